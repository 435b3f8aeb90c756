// Small enhancements for patient screens; every page works without this file.
// 1. A tap on an answer moves on by itself (keyboard users still press Next: arrow keys
//    change a radio choice and must not send the form). 2. A form is sent once, even on
//    a double tap or a second press while a slow network is still busy.
(function () {
  "use strict";
  var lastPointer = 0;
  document.addEventListener("pointerdown", function () { lastPointer = Date.now(); }, true);

  function sendOnce(event) {
    var form = event.target;
    if (form.dataset.busy) { event.preventDefault(); return; }
    form.dataset.busy = "1";
    form.classList.add("busy");
  }

  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", sendOnce);
  });

  document.querySelectorAll("form.js-autoadvance").forEach(function (form) {
    form.addEventListener("change", function (event) {
      if (event.target.type !== "radio" || Date.now() - lastPointer > 1500) { return; }
      window.setTimeout(function () {
        if (!form.dataset.busy && form.requestSubmit) { form.requestSubmit(); }
      }, 120);
    });
  });

  // Coming back with the browser's back button shows the page from cache: let it send again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form").forEach(function (form) {
      delete form.dataset.busy;
      form.classList.remove("busy");
    });
  });
}());
