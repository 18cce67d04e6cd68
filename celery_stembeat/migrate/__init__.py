"""Moving schedules in and out of stembeat, with a proof before the switch.

* importers read django-celery-beat's tables (:mod:`.dcb_rows`), a celery app's
  ``beat_schedule`` (:mod:`.celery_source`) and RedBeat's keys (:mod:`.redbeat_source`), and turn
  each schedule into an entry (:mod:`.convert`), which :mod:`.importer` writes to a store;
* :mod:`.verify` predicts every fire of a window twice, with celery's own schedule classes
  driven as django-celery-beat drives them (:mod:`.oracle`) and with the imported entries
  (:mod:`.predict`), and lists every difference;
* exporters write entries back (:mod:`.dcb_export`, :mod:`.celery_export`): the back-out plan.
"""
