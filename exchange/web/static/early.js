// Loaded without defer, before anything else: a form without a method attribute, or a button with
// data-api-post, works only once the page's deferred scripts have bound it. A click that comes sooner
// (a fast hand, a slow machine) would send the form natively to a JSON endpoint, or do nothing at all.
// Such clicks are held here and made again once every DOMContentLoaded handler has run.
(() => {
  let ready = false;
  const held = [];
  const scripted = (form) => !form.hasAttribute("method");
  document.addEventListener("submit", (event) => {
    if (ready || !scripted(event.target)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    held.push(() => event.target.requestSubmit(event.submitter));
  }, true);
  document.addEventListener("click", (event) => {
    const button = ready ? null : event.target.closest?.("button[data-api-post]");
    if (!button) return;
    event.stopImmediatePropagation();
    held.push(() => button.click());
  }, true);
  document.addEventListener("DOMContentLoaded", () => {
    // after the other DOMContentLoaded handlers (this one was added first, so it runs first)
    setTimeout(() => { ready = true; held.splice(0).forEach((again) => again()); }, 0);
  });
})();
