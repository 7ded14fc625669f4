// On an accepted invitation from abroad: ask every few seconds whether the proposal's full text has
// arrived, and show the page again with it. Without script the page's Refresh link does the same.
(function () {
  "use strict";
  var waiting = document.getElementById("waiting-for-text");
  if (!waiting || !window.fetch) {
    return;
  }
  var url = waiting.getAttribute("data-poll");
  var tries = 0;
  function ask() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.ready) {
          window.location.reload();
        } else if (tries < 400) {
          window.setTimeout(ask, 3000);
        }
      })
      .catch(function () {
        if (tries < 400) {
          window.setTimeout(ask, 6000);
        }
      });
  }
  window.setTimeout(ask, 1500);
})();
