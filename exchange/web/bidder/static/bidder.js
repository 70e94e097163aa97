// 公共资源交易平台 — bidder pages: registration (the identity field of the chosen kind, the password
// rules ticked while typing), applying (the button waits for both declarations), the application's
// documents and, in the sandbox, a simulated bank transfer; a joint bid (联合竞买): its members and
// shares on the apply form, a member's confirmation or refusal on /me.
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

// Shares are percentages with at most two places, summed here in basis points as the server does
// (listings.consortium_shares): no float, so 33.33 + 33.33 + 33.34 is exactly 100.
function basisPoints(text) {
  const match = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
}

function bindJointBid() {
  const form = document.querySelector("form[data-apply-form]");
  if (!form) return;
  const english = () => (document.documentElement.lang || "zh").toLowerCase().startsWith("en");
  const toggle = form.querySelector("[data-joint-toggle]");
  const parts = form.querySelector("[data-joint-parts]");
  const list = form.querySelector("[data-members]");
  const template = form.querySelector("template[data-member-template]");
  const total = form.querySelector("[data-share-total]");
  const joint = () => Boolean(toggle?.checked);

  // Each member's inputs are named after the server's problem fields (consortium.members[i].share), so a
  // field error lands beside the input it names; renumbered whenever a member is added or removed.
  const renumber = () => {
    list.querySelectorAll("[data-member]").forEach((box, i) => {
      box.querySelector("[data-member-number]").textContent = String(i + 1);
      box.querySelectorAll("[data-member-field]").forEach((input) => {
        const field = input.dataset.memberField;
        input.id = `member-${i}-${field}`;
        input.dataset.errorFor = `consortium.members[${i}].${field}`;
        box.querySelector(`label[data-for="${field}"]`).htmlFor = input.id;
      });
    });
  };
  const sum = () => {
    let bp = 0;
    for (const input of form.querySelectorAll("[data-share]")) {
      const value = basisPoints(input.value);
      if (value === null) return null;
      bp += value;
    }
    return bp;
  };
  const showTotal = () => {
    if (!total || !joint()) return;
    const bp = sum();
    const lang = english() ? "en" : "zh";
    const shown = bp === null ? "—" : (bp / 100).toFixed(2);
    total.textContent = total.dataset[lang].replace("{total}", shown) + (bp === 10000 ? " ✓" : total.dataset[`short${lang === "en" ? "En" : "Zh"}`]);
    total.classList.toggle("ok", bp === 10000);
    total.classList.toggle("bad", bp !== 10000);
    total.dataset.total = shown;
  };
  const addMember = () => {
    list.append(template.content.cloneNode(true));
    renumber();
    const added = list.lastElementChild;
    added.querySelectorAll("[data-share]").forEach((input) => input.addEventListener("input", showTotal));
    added.querySelector("[data-remove-member]").addEventListener("click", () => {
      added.remove();
      renumber();
      showTotal();
    });
    showTotal();
    return added;
  };
  form.querySelector("[data-add-member]")?.addEventListener("click", () => {
    addMember().querySelector("input")?.focus();
  });
  form.querySelector("#lead_share")?.addEventListener("input", showTotal);
  toggle?.addEventListener("change", () => {
    parts.hidden = !toggle.checked;
    if (toggle.checked && !list.children.length) addMember();
    showTotal();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type="submit"]');
    const body = Exchange.formJson(form); // the declarations: the joint inputs carry no name
    if (joint()) {
      const members = [...list.querySelectorAll("[data-member]")].map((box) => {
        const member = {};
        box.querySelectorAll("[data-member-field]").forEach((input) => { member[input.dataset.memberField] = input.value.trim(); });
        return member;
      });
      body.consortium = { lead_share: form.querySelector("#lead_share").value.trim(), members };
      // Said before sending, as the server would say it (422 consortium_shares_invalid on the members)
      const bp = sum();
      if (members.length && bp !== 10000) {
        showTotal();
        return Exchange.showProblem(form, {
          code: "consortium_shares_invalid",
          detail: english() ? "The shares of the lead and the members must total exactly 100%." : "牵头人和各成员的份额合计须为 100%",
          errors: [{ field: "consortium.members", message: total?.textContent || "" }],
        });
      }
    }
    button.disabled = true;
    const result = await Exchange.api("POST", form.getAttribute("action"), body);
    button.disabled = false;
    if (!result.ok) return Exchange.showProblem(form, result.data);
    window.location.assign(form.dataset.redirect.replace("{id}", result.data.id));
  });
}

// /me: a member's answer to a joint bid; a refusal asks for its reason first (optional, sent as said).
function bindJointAnswers() {
  document.querySelectorAll("form[data-joint-answer]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const confirm = event.submitter?.value === "confirm";
      const reason = form.querySelector("textarea")?.value.trim();
      if (!confirm && form.dataset.refusing === undefined) {
        // the first press of 拒绝 opens the reason; the second sends it
        form.dataset.refusing = "";
        form.querySelector("[data-refusal]").hidden = false;
        form.querySelector("textarea")?.focus();
        return;
      }
      const body = confirm ? { confirm: true } : { confirm: false, ...(reason ? { reason } : {}) };
      form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      const result = await Exchange.api("POST", form.getAttribute("action"), body);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      if (result.ok) return window.location.reload();
      Exchange.showProblem(form, result.data);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  bindJointBid();
  bindJointAnswers();
  bindRegistration();
  bindDeclarations();
  bindUploads();
  bindSandboxTransfers();
});
