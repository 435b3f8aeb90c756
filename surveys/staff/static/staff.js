// Staff pages: copy a shown link to the clipboard, and print the handout. No inline scripts (CSP).
"use strict";
document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    source.select();
    const done = () => { copy.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(source.value).then(done, () => document.execCommand("copy") && done());
    } else if (document.execCommand("copy")) {
      done();
    }
  }
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
