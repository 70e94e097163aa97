// 公共资源交易平台 — bidder pages: the registration form shows the identity field of the chosen kind.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("register-form");
  if (!form) return;
  const sync = () => {
    const kind = form.querySelector('input[name="kind"]:checked')?.value;
    form.querySelectorAll("[data-for-kind]").forEach((box) => {
      const shown = box.dataset.forKind === kind;
      box.hidden = !shown;
      // Disabled inputs are left out of the JSON, so only the chosen kind's number is sent.
      box.querySelectorAll("input").forEach((input) => { input.disabled = !shown; });
    });
  };
  form.querySelectorAll("[data-kind]").forEach((radio) => radio.addEventListener("change", sync));
  sync();
});
