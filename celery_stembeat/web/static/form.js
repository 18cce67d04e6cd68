// The entry form's live preview: the next fires of the spec as it is typed, fetched from the
// dashboard (the form's Preview button shows the same without script).
(function () {
  "use strict";
  var spec = document.getElementById("spec");
  var target = document.getElementById("preview");
  if (!spec || !target || !window.fetch) {
    return;
  }
  var timer = null;
  var asked = 0;
  function refresh() {
    var mine = ++asked;
    var url = target.getAttribute("data-url") + "?" + new URLSearchParams({ spec: spec.value });
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        var html = response.headers.get("Content-Type") || "";
        return html.indexOf("text/html") === 0 ? response.text() : null;
      })
      .then(function (fragment) {
        if (fragment !== null && mine === asked) {
          target.innerHTML = fragment;
        }
      })
      .catch(function () {});
  }
  spec.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  });
})();
