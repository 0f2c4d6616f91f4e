// Rating page: keys 1-5 press the matching button; one submission per page.
(function () {
  "use strict";
  var form = document.getElementById("rating");
  if (!form) { return; }
  var sent = false;
  form.addEventListener("submit", function (event) {
    if (sent) { event.preventDefault(); return; }
    sent = true;
    form.classList.add("busy");
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.repeat) { return; }
    var button = form.querySelector('button[data-score="' + event.key + '"]');
    if (button) {
      event.preventDefault();
      button.click();
    }
  });
  // Coming back with the Back button shows a cached page: reload to get the current image.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.reload(); }
  });
})();
