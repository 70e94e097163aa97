// 公共资源交易平台 — what every page shares: the JSON API with the session's CSRF token,
// forms that post JSON and show problem+json errors next to their fields, the server clock.
"use strict";

const Exchange = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  // The page's language asks the API for its problems' words (exchange.messages): <html lang="zh-CN"> -> zh-CN.
  const english = () => (document.documentElement.lang || "zh").toLowerCase().startsWith("en");
  const acceptLanguage = () => (english() ? "en" : "zh-CN");

  // What the browser itself has to say when the server could not (no answer, or not a problem document).
  const WORDS = {
    network_error: ["网络错误，请检查网络后重试", "Network error; check your connection and try again."],
    server_error: ["服务器出错，请稍后重试", "Server error; please try again later."],
    invalid_json: ["填写的 JSON 格式有误", "The JSON entered is not valid."],
    failed: ["操作未成功，请重试", "That did not work; please try again."],
  };
  const word = (key) => WORDS[key][english() ? 1 : 0];

  // A problem's sentence for people: its detail (already in the page's language), else the browser's own words.
  // A 5xx says it is the server's fault, with the server's detail when it adds something: it is no network error.
  function message(problem) {
    const detail = problem?.detail ? String(problem.detail) : "";
    if (problem?.code === "network_error") return word("network_error");
    if (problem?.status >= 500 || problem?.code === "server_error" || problem?.code === "internal_error") {
      const generic = word("server_error");
      return detail && detail !== generic ? `${generic}${english() ? " (" : "（"}${detail}${english() ? ")" : "）"}` : generic;
    }
    if (detail) return detail;
    return WORDS[problem?.code] ? word(problem.code) : word("failed");
  }

  // fetch the JSON API as the logged-in browser; resolves to {ok, status, data} and never throws on 4xx.
  // A failure without an answer is {status: 0, data: {code: "network_error"}}; an answer that is no JSON
  // (a proxy's error page) is {code: "server_error"} for a 5xx, else a generic failure: never raw HTML.
  async function api(method, url, body, headers = {}) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Accept-Language": acceptLanguage(), ...headers },
    };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      return { ok: false, status: 0, data: { code: "network_error", status: 0, detail: word("network_error") } };
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok && (data === null || typeof data !== "object")) {
      const code = response.status >= 500 ? "server_error" : "failed";
      data = { code, status: response.status, detail: word(code) };
    }
    return { ok: response.ok, status: response.status, data };
  }

  // Field names with dots nest: name="schedule.bidding_opens_at" -> {schedule: {bidding_opens_at: ...}}.
  // data-type on an input: "int", "bool", "json", "datetime" (local input -> ISO with offset); empty values are left out.
  // An edit form (data-empty-clears, sent as a JSON merge patch) sends an emptied top-level field as null, which
  // clears it, and so is a field switched off by data-methods: the chosen method does not take it.
  function formJson(form) {
    const out = {};
    const clears = form.dataset.emptyClears !== undefined;
    for (const element of form.elements) {
      if (!element.name || element.tagName === "FIELDSET" || element.name === "csrf_token") continue;
      const topLevel = !element.name.includes(".");
      if (element.disabled) {
        if (clears && topLevel && element.closest("[data-methods]")) out[element.name] = null;
        continue;
      }
      if ((element.type === "checkbox" || element.type === "radio") && !element.checked && element.dataset.type !== "bool") continue;
      let value = element.type === "checkbox" && element.dataset.type === "bool" ? element.checked : element.value;
      if (value === "") {
        if (clears && topLevel) out[element.name] = null;
        continue;
      }
      const type = element.dataset.type;
      if (type === "int") value = /^-?\d+$/.test(value.trim()) ? Number.parseInt(value, 10) : value; // the API refuses the rest
      else if (type === "json") value = JSON.parse(value);
      else if (type === "datetime") value = new Date(value).toISOString();
      const path = element.name.split(".");
      let node = out;
      for (const key of path.slice(0, -1)) node = node[key] ??= {};
      node[path[path.length - 1]] = value;
    }
    return out;
  }

  // The element a problem's field names: "schedule.announce_at" is the schedule's own input if the form
  // has one (a Beijing-time input stands for its hidden ISO field; an input marked data-error-for stands
  // for a part of a hidden JSON field, e.g. "seller.credit_code"), else the nearest named part it
  // belongs to ("schedule").
  function fieldOf(form, field) {
    const parts = String(field).split(".");
    while (parts.length) {
      const name = CSS.escape(parts.join("."));
      const input = form.querySelector(`[data-error-for="${name}"]`) || form.querySelector(`[data-beijing="${name}"]`)
        || form.querySelector(`[name="${name}"]`);
      if (input) return input;
      parts.pop();
    }
    return null;
  }

  function showProblem(form, problem) {
    const box = form.querySelector("[data-form-alert]");
    form.querySelectorAll(".field-error").forEach((node) => node.remove());
    form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
    for (const item of problem?.errors || []) {
      const input = fieldOf(form, item.field);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      const note = document.createElement("span");
      note.className = "field-error";
      note.id = `${input.id || input.name}-error`;
      note.textContent = item.message;
      input.setAttribute("aria-describedby", note.id);
      input.insertAdjacentElement("afterend", note);
    }
    if (box) {
      box.hidden = false;
      box.dataset.code = problem?.code || "";
      box.textContent = message(problem);
      box.focus();
    }
  }

  // <form data-api-form data-method="POST" action="/api/v1/..." data-redirect="/x/{id}">
  function bindForms(root = document) {
    root.querySelectorAll("form[data-api-form]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector('[type="submit"]');
        if (button) button.disabled = true;
        let body;
        try { body = formJson(form); } catch {
          showProblem(form, { code: "invalid_json", detail: word("invalid_json") });
          if (button) button.disabled = false;
          return;
        }
        const result = await api(form.dataset.method || "POST", form.getAttribute("action"), body);
        if (button) button.disabled = false;
        if (!result.ok) return showProblem(form, result.data);
        form.dispatchEvent(new CustomEvent("api:done", { detail: result.data }));
        const target = form.dataset.redirect;
        if (target) window.location.assign(target.replace(/\{(\w+)\}/g, (_, key) => result.data?.[key] ?? ""));
        else if (form.dataset.reload !== undefined) window.location.reload();
      });
    });
  }

  // Offset between this device and the server, from any <time data-server-clock datetime>.
  let offset = 0;
  function syncClock(serverIso, sentAt = Date.now()) {
    offset = Date.parse(serverIso) - (sentAt + Date.now()) / 2;
  }
  const serverNow = () => new Date(Date.now() + offset);

  // One auction's live feed (WS /api/v1/auctions/{id}/feed?after_seq=N): the server replays every event
  // after the last seq seen, then live ones follow. A dropped connection comes back with backoff from
  // where it was, so nothing is missed and nothing is handled twice. Heartbeats only set the clock.
  // on.event(event); on.state("live" | "reconnecting" | "ended"); on.missing() when the auction does not
  // exist (close code 4404; the feed then stops); on.ended() says the auction is over (no reconnect).
  function feed(listingId, afterSeq, on) {
    let lastSeq = afterSeq;
    let socket = null;
    let retries = 0;
    let stopped = false;
    function connect() {
      if (stopped) return;
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      // batch=true: the events since the last frame come as one {"kind": "batch", "events": [...]}
      // frame (every message costs the server a system call; a crowd is cheap only this way)
      socket = new WebSocket(
        `${scheme}://${window.location.host}/api/v1/auctions/${listingId}/feed?after_seq=${lastSeq}&batch=true`,
      );
      socket.addEventListener("open", () => { retries = 0; on.state?.("live"); });
      socket.addEventListener("message", (message) => {
        let frame;
        try { frame = JSON.parse(message.data); } catch { return; }
        for (const event of frame.kind === "batch" ? frame.events : [frame]) {
          if (event.server_time) syncClock(event.server_time);
          if (event.kind === "heartbeat") continue;
          if (typeof event.seq === "number") {
            if (event.seq <= lastSeq) continue; // a replay after a reconnect may repeat what we have
            lastSeq = event.seq;
          }
          on.event(event);
        }
      });
      socket.addEventListener("close", (event) => {
        socket = null;
        if (stopped) return;
        if (event.code === 4404 && on.missing) { stopped = true; on.missing(); return; }
        if (on.ended?.()) { stopped = true; on.state?.("ended"); return; }
        on.state?.("reconnecting");
        setTimeout(connect, Math.min(5000, 250 * 2 ** retries++));
      });
    }
    connect();
    return { stop() { stopped = true; socket?.close(); } };
  }

  function tickFooterClock() {
    const node = document.querySelector("footer [data-server-clock]");
    if (!node) return;
    syncClock(node.getAttribute("datetime"));
    const zone = { timeZone: "Asia/Shanghai", hour12: false };
    const draw = () => { node.textContent = serverNow().toLocaleString("sv-SE", zone); };
    draw();
    setInterval(draw, 1000);
  }

  document.addEventListener("DOMContentLoaded", () => { bindForms(); tickFooterClock(); });
  return { api, message, acceptLanguage, formJson, showProblem, bindForms, syncClock, serverNow, feed };
})();
