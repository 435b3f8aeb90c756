// Small enhancements for patient screens; every page works without this file.
// 1. A tap on an answer moves on by itself (keyboard users still press Next: arrow keys
//    change a radio choice and must not send the form).
// 2. A form is sent once, even on a double tap or a second press while a slow network is busy.
// 3. One round trip per answer: an answer form is sent with fetch (same fields, same CSRF token,
//    plus the X-Patient-Screen header) and the server replies with the next page itself and its
//    address (X-Patient-Location). The page is swapped in, the address pushed on the history and
//    focus moved to the new heading. Anything else (an error page, a redirect, no network) falls
//    back to sending the form the ordinary way, so the server's own pages show as without script.
//    Back and Forward load the address they land on, as an ordinary page.
(function () {
  "use strict";
  var lastPointer = 0;
  var canSwap = Boolean(window.fetch && window.DOMParser && window.URLSearchParams &&
    window.FormData && window.history && window.history.pushState);
  // The history entry the page on screen belongs to, and its address: every entry of a page this
  // script runs on carries an id (a jump to #main makes an entry without one).
  var shown, shownAddress = window.location.pathname + window.location.search;

  function entryOf(state) { return state && state.patientPage ? state.patientPage : undefined; }
  function newEntry() { return String(Date.now()) + "-" + Math.random(); }

  if (canSwap) {
    shown = entryOf(window.history.state);
    if (!shown) {
      shown = newEntry();
      window.history.replaceState({patientPage: shown}, "");
    }
  }

  document.addEventListener("pointerdown", function () { lastPointer = Date.now(); }, true);

  function attached(form) { return document.documentElement.contains(form); }

  // Load the address on screen anew. What the screen showed is hidden at once (on a shared tablet a
  // page restored from the back-forward cache must not show someone's answers while the fresh one
  // loads), and the page is marked as leaving (tests wait for a page that is not).
  function reloadHere() {
    document.documentElement.dataset.leaving = "1";
    if (document.body) { document.body.hidden = true; }
    window.location.replace(window.location.href);
  }

  function markBusy(form) {
    form.dataset.busy = "1";
    form.classList.add("busy");
  }

  function sendOrdinarily(form, submitter) {
    if (!attached(form)) {  // the page was already swapped: load its address instead
      reloadHere();
      return;
    }
    if (submitter && submitter.name) {  // form.submit() leaves out the button that was pressed
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = submitter.name;
      field.value = submitter.value;
      form.appendChild(field);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  function showPage(html, address) {
    var next = new DOMParser().parseFromString(html, "text/html");
    var body = next.body;
    if (!body || !body.querySelector("main")) { throw new Error("not a patient page"); }
    Array.prototype.forEach.call(body.querySelectorAll("script"), function (script) {
      script.parentNode.removeChild(script);  // this script keeps running; never load it twice
    });
    document.title = next.title;
    document.documentElement.lang = next.documentElement.lang;
    document.documentElement.replaceChild(document.adoptNode(body), document.body);
    shown = newEntry();
    shownAddress = address;
    window.history.pushState({patientPage: shown}, "", address);
    window.scrollTo(0, 0);
    var heading = document.querySelector("main h1") || document.querySelector("main legend") ||
      document.getElementById("main");
    if (!heading.hasAttribute("tabindex")) { heading.setAttribute("tabindex", "-1"); }
    heading.focus();
  }

  function sendAnswer(form, submitter) {
    var data = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    window.fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      redirect: "manual",  // a redirect means "not the next page": send the form ordinarily
      headers: {"X-Patient-Screen": "1"}
    }).then(function (response) {
      var address = response.headers.get("X-Patient-Location");
      if (!response.ok || !address || address.charAt(0) !== "/" || address.charAt(1) === "/") {
        throw new Error("no next page");
      }
      return response.text().then(function (html) { showPage(html, address); });
    }).catch(function () { sendOrdinarily(form, submitter); });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.busy) { event.preventDefault(); return; }
    markBusy(form);
    // event.submitter tells Next from Back; a browser without it sends the form ordinarily.
    if (!canSwap || !form.classList.contains("screen") || event.submitter === undefined) { return; }
    event.preventDefault();
    try {
      sendAnswer(form, event.submitter);
    } catch (error) {
      sendOrdinarily(form, event.submitter);
    }
  });

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (!form || !form.classList.contains("js-autoadvance")) { return; }
    if (event.target.type !== "radio" || Date.now() - lastPointer > 1500) { return; }
    window.setTimeout(function () {
      if (!form.dataset.busy && attached(form) && form.requestSubmit) { form.requestSubmit(); }
    }, 120);
  });

  // Back or Forward to another entry of this page: load that address as an ordinary page (the
  // server shows where the patient stands, with the answers kept). A jump to #main is left alone.
  function loadIfNotShown(state) {
    var entry = entryOf(state);
    var address = window.location.pathname + window.location.search;
    if (entry ? entry !== shown : address !== shownAddress) {
      reloadHere();
      return true;
    }
    return false;
  }

  window.addEventListener("popstate", function (event) {
    if (canSwap) { loadIfNotShown(event.state); }
  });

  // Coming back with the browser's back button may show the page from cache: if it shows another
  // entry's page, load this one; otherwise let its forms send again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && canSwap && loadIfNotShown(window.history.state)) { return; }
    document.querySelectorAll("form").forEach(function (form) {
      delete form.dataset.busy;
      form.classList.remove("busy");
    });
  });
}());
