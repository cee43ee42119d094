// The Now page refreshes its table every 30 seconds (short polling), so a duty screen can stay
// open all night. It replaces only the table and says when it last did, in a polite status line.
(function () {
  "use strict";
  var status = document.getElementById("now-status");
  var table = document.getElementById("now-table");
  if (!status || !table) { return; }
  var seconds = parseInt(status.getAttribute("data-refresh"), 10) || 30;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function refresh() {
    return fetch("/episodes?fragment=1", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.assign("/login");
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        table.innerHTML = html;
        var now = new Date();
        status.textContent = "Updated " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" +
          pad(now.getSeconds()) + ". This page updates itself every " + seconds + " seconds.";
      })
      .catch(function () {
        status.textContent = "Could not update just now; trying again in " + seconds + " seconds.";
      });
  }
  window.setInterval(refresh, seconds * 1000);
  window.mailbridgeRefreshNow = refresh;
})();
