// The one-time key page: a Copy button for the secret, and the page's history entry moved to the
// key's own page, so reloading shows the key without its secret (and never re-submits the form).
(function () {
  "use strict";
  var section = document.querySelector(".key-created");
  if (!section) { return; }
  var button = document.getElementById("copy-secret");
  var status = document.getElementById("copy-status");
  button.addEventListener("click", function () {
    var field = document.getElementById(button.getAttribute("data-copies"));
    var done = function () { status.textContent = "Copied."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        field.select(); status.textContent = "Selected: press Ctrl+C to copy.";
      });
    } else {
      field.select();
      status.textContent = document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.";
    }
  });
  if (window.history.replaceState) {
    window.history.replaceState(null, "", section.getAttribute("data-key-url"));
  }
})();
