// 公共资源交易平台 — bidder pages: registration (the identity field of the chosen kind, the password
// rules ticked while typing), applying (the button waits for both declarations), the application's
// documents and, in the sandbox, a simulated bank transfer.
"use strict";

function bindRegistration() {
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

  // The rules of exchange/identity/passwords.py that a page can check; "common" needs the server's list.
  const rules = form.querySelector("[data-password-rules]");
  const password = form.querySelector("#password");
  const username = form.querySelector("#username");
  if (!rules || !password) return;
  const min = Number(rules.querySelector('[data-rule="length"]')?.dataset.min || 10);
  const checks = {
    length: (p) => p.length >= min,
    classes: (p) => /[A-Za-z]/.test(p) && /\d/.test(p),
    distinct: (p) => new Set(p).size >= 5,
    username: (p, u) => !u || !p.toLowerCase().includes(u.toLowerCase()),
  };
  const mark = () => {
    const p = password.value;
    for (const [rule, check] of Object.entries(checks)) {
      const item = rules.querySelector(`[data-rule="${rule}"]`);
      if (!item) continue;
      item.classList.toggle("met", p !== "" && check(p, username?.value.trim() || ""));
      item.classList.toggle("unmet", p !== "" && !check(p, username?.value.trim() || ""));
    }
  };
  password.addEventListener("input", mark);
  username?.addEventListener("input", mark);
}

function bindDeclarations() {
  document.querySelectorAll("form[data-declarations]").forEach((form) => {
    const boxes = [...form.querySelectorAll('input[type="checkbox"][data-declaration]')];
    const button = form.querySelector('[type="submit"]');
    const sync = () => { button.disabled = !boxes.every((box) => box.checked); };
    boxes.forEach((box) => box.addEventListener("change", sync));
    sync();
  });
}

function bindUploads() {
  document.querySelectorAll("form[data-upload]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = form.querySelector('input[type="file"]');
      const button = form.querySelector('[type="submit"]');
      if (!input.files.length) return input.focus();
      const body = new FormData();
      body.append("file", input.files[0]);
      button.disabled = true;
      let response;
      try {
        response = await fetch(form.getAttribute("action"), {
          method: "POST",
          credentials: "same-origin",
          headers: {
            Accept: "application/json",
            "Accept-Language": document.documentElement.lang || "zh-CN",
            "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]')?.content || "",
          },
          body,
        });
      } catch (error) {
        button.disabled = false;
        return Exchange.showProblem(form, { code: "network_error", detail: String(error) });
      }
      button.disabled = false;
      if (response.ok) return window.location.reload();
      let problem;
      try { problem = await response.json(); } catch { problem = { code: `http_${response.status}` }; }
      Exchange.showProblem(form, problem); // a field error on "file" lands beside the input
    });
  });
}

function bindSandboxTransfers() {
  document.querySelectorAll("[data-simulate-transfer]").forEach((button) => {
    button.addEventListener("click", async () => {
      const id = button.dataset.simulateTransfer;
      const alert = document.querySelector(`[data-transfer-alert="${id}"]`);
      button.disabled = true;
      const result = await Exchange.api("POST", "/api/v1/sandbox/bank-transfers", { application_id: Number(id) },
        { "Accept-Language": document.documentElement.lang || "zh-CN" });
      if (result.ok) return window.location.reload();
      button.disabled = false;
      if (alert) {
        alert.hidden = false;
        alert.dataset.code = result.data?.code || "";
        alert.textContent = Exchange.message(result.data);
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  bindRegistration();
  bindDeclarations();
  bindUploads();
  bindSandboxTransfers();
});
