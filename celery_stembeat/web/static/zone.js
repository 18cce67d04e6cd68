// The next fires in the viewer's own zone: each cell carrying a UTC instant (data-instant)
// shows it in the browser's zone, and its column appears (without script it stays hidden).
// Fires the live preview puts in the page are filled as they arrive.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) {
    return;
  }
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZoneName: "short"
  });
  var zone = format.resolvedOptions().timeZone || "local";
  function written(date) {
    var parts = {};
    format.formatToParts(date).forEach(function (part) { parts[part.type] = part.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" +
      parts.minute + ":" + parts.second + " " + (parts.timeZoneName || "");
  }
  function fill(root) {
    root.querySelectorAll("td.viewer-time[data-instant]").forEach(function (cell) {
      var date = new Date(cell.getAttribute("data-instant"));
      if (!isNaN(date.getTime())) {
        cell.textContent = written(date).trim();
        cell.hidden = false;
      }
    });
    root.querySelectorAll("th.viewer-zone").forEach(function (head) {
      head.textContent = "your time (" + zone + ")";
      head.hidden = false;
    });
  }
  fill(document);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (node.querySelectorAll) {
          fill(node);
        }
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
})();
