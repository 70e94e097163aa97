// 公共资源交易平台 — the result page: file an objection (异议) with its reasons, then its supporting file;
// add a file to one's own unanswered objection. Problems read in the page's language.
"use strict";

(() => {
  const lang = document.documentElement.lang === "en" ? "en" : "zh";

  // The API's problem codes in Chinese; the English page shows the API's own detail.
  const CHINESE = {
    publicity_closed: "现不在公示期内，不再受理异议。",
    rate_limited: "提交过于频繁，请稍后再试。",
    reasons_required: "请填写异议理由。",
    reasons_too_long: "异议理由不能超过 4000 字。",
    result_not_found: "该交易结果尚未公布。",
    document_type_not_allowed: "证明材料只接受 PDF、PNG 或 JPEG 文件。",
    document_too_large: "每份证明材料不能超过 5 MB。",
    document_empty: "所选文件为空。",
    too_many_documents: "每项异议最多附 20 份证明材料。",
    objection_answered: "该异议已答复，不能再补充材料。",
    objection_not_found: "找不到该异议。",
    unauthenticated: "登录已失效，请重新登录。",
    token_invalid: "登录已失效，请重新登录。",
    csrf_failed: "页面已过期，请刷新后重试。",
    network_error: "网络连接失败，请重试。",
  };

  function say(problem) {
    const code = problem?.code || "";
    const detail = lang === "en" ? problem?.detail || problem?.title : CHINESE[code] || "提交失败，请重试。";
    return { ...problem, code, detail: detail || "error", errors: [] };
  }

  async function upload(objectionId, file) {
    const body = new FormData();
    body.append("file", file);
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
    try {
      const response = await fetch(`/api/v1/objections/${objectionId}/attachments`, {
        method: "POST", credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf }, body,
      });
      if (response.ok) return null;
      return await response.json().catch(() => ({ detail: response.statusText }));
    } catch (error) {
      return { code: "network_error", detail: String(error) };
    }
  }

  // After the objection was filed but its file refused, the form only retries the file for that
  // objection: filing it again would file a second objection.
  function attachOnly(form, objectionId, problem) {
    form.dataset.filed = String(objectionId);
    const reasons = form.elements.reasons;
    reasons.disabled = true;
    reasons.required = false;
    const note = form.querySelector("[data-filed-note]");
    note.hidden = false;
    form.querySelector('[type="submit"]').textContent = lang === "en" ? "Upload the file" : "上传证明材料";
    Exchange.showProblem(form, say(problem));
  }

  function objectionForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector('[type="submit"]');
      const file = form.elements.file.files[0];
      button.disabled = true;
      let objectionId = form.dataset.filed;
      if (!objectionId) {
        const filed = await Exchange.api("POST", form.getAttribute("action"), { reasons: form.elements.reasons.value });
        if (!filed.ok) {
          button.disabled = false;
          return Exchange.showProblem(form, say(filed.data));
        }
        objectionId = filed.data.id;
      } else if (!file) {
        return window.location.reload(); // nothing more to add: the objection stands as filed
      }
      if (file) {
        const problem = await upload(objectionId, file);
        if (problem) {
          button.disabled = false;
          return attachOnly(form, objectionId, problem);
        }
      }
      window.location.reload();
    });
  }

  // <form data-attach-form data-objection="id"> on one's own unanswered objection.
  function attachForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = form.elements.file.files[0];
      if (!file) return;
      const button = form.querySelector('[type="submit"]');
      button.disabled = true;
      const problem = await upload(form.dataset.objection, file);
      button.disabled = false;
      if (problem) return Exchange.showProblem(form, say(problem));
      window.location.reload();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-objection-form]").forEach(objectionForm);
    document.querySelectorAll("form[data-attach-form]").forEach(attachForm);
  });
})();
