// The registry's forms (exchange/web/registry): a quantity is typed in the unit people read (t/a with
// up to three places, m³/a whole) and posted as the API's integer kg/a or m³/a; a Beijing time is
// posted as an ISO instant whatever the device's zone; an offer's approval switches the fields of
// one method on and off. The posting itself is app.js's data-api-form.
"use strict";

(() => {
  // "12.345" at a scale of 1000 -> "12345", exactly (no floating point); the pattern keeps the rest out.
  function stored(text, scale) {
    const places = String(scale).length - 1;
    const found = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
    if (!found || (found[2] || "").length > places) return text.trim();
    return (found[1] + (found[2] || "").padEnd(places, "0")).replace(/^0+(?=\d)/, "");
  }

  // A quantity's scale and unit: its own, or those of the option chosen in the select it names.
  function unitOf(input) {
    const select = input.dataset.scaleFrom && document.getElementById(input.dataset.scaleFrom);
    const option = select ? select.selectedOptions[0] : null;
    const source = option && option.dataset.scale ? option.dataset : input.dataset;
    return { scale: Number.parseInt(source.scale || "1", 10), unit: source.unit || "" };
  }

  function syncQuantity(form, input) {
    const hidden = form.querySelector(`input[type="hidden"][name="${CSS.escape(input.dataset.quantity)}"]`);
    const { scale, unit } = unitOf(input);
    const places = String(scale).length - 1;
    input.pattern = places ? `\\d+(\\.\\d{1,${places}})?` : "\\d+";
    const label = form.querySelector(`[data-unit-of="${CSS.escape(input.id)}"]`);
    if (label && unit) label.textContent = unit;
    if (hidden) hidden.value = input.value.trim() === "" ? "" : stored(input.value, scale);
  }

  // <input type="datetime-local" data-beijing-at="schedule.announce_at"> fills its hidden field with +08:00.
  function syncTime(form, input) {
    const hidden = form.querySelector(`input[type="hidden"][name="${CSS.escape(input.dataset.beijingAt)}"]`);
    if (!hidden) return;
    const value = input.value;
    hidden.value = value ? `${value.length === 16 ? `${value}:00` : value}+08:00` : "";
  }

  // Inputs marked data-for-methods="uniform_price" are sent only when that method is chosen.
  function syncMethods(form) {
    const method = form.querySelector('select[name="method"]');
    if (!method) return;
    form.querySelectorAll("[data-for-methods]").forEach((node) => {
      const on = node.dataset.forMethods.split(" ").includes(method.value);
      node.hidden = !on;
      if (node.matches("input, select")) node.disabled = !on;
    });
  }

  function sync(form) {
    form.querySelectorAll("input[data-quantity]").forEach((input) => syncQuantity(form, input));
    form.querySelectorAll("input[data-beijing-at]").forEach((input) => syncTime(form, input));
    syncMethods(form);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-registry-form]").forEach((form) => {
      sync(form);
      form.addEventListener("input", () => sync(form));
      form.addEventListener("change", () => sync(form));
    });
  });
  // Before app.js reads the form (a capturing listener runs ahead of the form's own).
  document.addEventListener("submit", (event) => {
    if (event.target.matches("form[data-registry-form]")) sync(event.target);
  }, true);
})();
