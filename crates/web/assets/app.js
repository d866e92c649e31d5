// Optional conveniences for the portmatrix web UI. Every page works without
// this script: filters are plain GET forms and diagram roles are links.
(function () {
  "use strict";
  // "/" focuses the port search, as in many web apps.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    var port = document.getElementById("f-port");
    if (port) { e.preventDefault(); port.focus(); port.select(); }
  });
  // Copy buttons for configuration blocks.
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var src = document.getElementById(b.getAttribute("data-copy"));
      if (!src || !navigator.clipboard) return;
      navigator.clipboard.writeText(src.textContent).then(function () {
        var old = b.textContent;
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = old; }, 1500);
      });
    });
  });
})();
