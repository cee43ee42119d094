// The Now page refreshes its table every 30 seconds (short polling), so a duty screen can stay
// open all night. It replaces only the table and says when it last did, in a polite status line.
// Each poll sends back the table's ETag: an unchanged table comes back as 304, with no body, and
// is left as it is. The promise resolves to the HTTP status (0 when the request failed).
(function () {
  "use strict";
  var status = document.getElementById("now-status");
  var table = document.getElementById("now-table");
  if (!status || !table) { return; }
  var seconds = parseInt(status.getAttribute("data-refresh"), 10) || 30;
  var etag = null;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function refresh() {
    var headers = { "Accept": "text/html" };
    if (etag) { headers["If-None-Match"] = etag; }
    var code = 0;
    return fetch("/episodes?fragment=1", { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        code = response.status;
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.assign("/login");
          return false;
        }
        if (response.status === 304) { return true; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        etag = response.headers.get("ETag");
        return response.text().then(function (html) {
          table.innerHTML = html;
          return true;
        });
      })
      .then(function (updated) {
        if (!updated) { return code; }
        var now = new Date();
        status.textContent = "Updated " + pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" +
          pad(now.getSeconds()) + ". This page updates itself every " + seconds + " seconds.";
        return code;
      })
      .catch(function () {
        status.textContent = "Could not update just now; trying again in " + seconds + " seconds.";
        return 0;
      });
  }
  window.setInterval(refresh, seconds * 1000);
  window.mailbridgeRefreshNow = refresh;
})();
