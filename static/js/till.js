// The cashier's till page: staff sign-in, scan a member's code, redeem, use vouchers.

import { apiClient } from "./api.js";
import { has, initLanguage, t } from "./i18n.js";
import {
  $,
  busy,
  el,
  errorMessage,
  fill,
  formatDate,
  formatPoints,
  reportFailure,
  say,
  show,
} from "./ui.js";

const api = apiClient("loyalty.staff");
const state = { member: null, code: null, rewards: [], voucher: null, stream: null };

function tierName(code) {
  return has(`tier.${code}`) ? t(`tier.${code}`) : code.charAt(0).toUpperCase() + code.slice(1);
}

// --- staff sign-in -------------------------------------------------------------------------

function showSignin(message = "") {
  stopCamera();
  show($("#loading"), false);
  show($("#till"), false);
  show($("#staff-signin"));
  say($("#staff-error"), message);
  $("#staff-email").focus();
}

async function signIn(event) {
  event.preventDefault();
  const email = $("#staff-email").value.trim();
  const password = $("#staff-password").value;
  say($("#staff-error"));
  if (!email || !password) {
    say($("#staff-error"), t("staff.wrong"));
    return;
  }
  await busy(event.currentTarget, async () => {
    try {
      const result = await api.json("POST", "/api/v1/auth/token", { body: { email, password } });
      api.remember({ token: result.access_token, role: result.role });
      $("#staff-form").reset();
      openTill();
    } catch (error) {
      say($("#staff-error"), errorMessage(error, { unauthorized: "staff.wrong" }));
    }
  });
}

function signOut(message = "") {
  api.forget();
  clearMember();
  clearVoucher();
  showSignin(message);
}

function failed(error, region) {
  reportFailure(error, region, signOut);
}

function openTill() {
  show($("#loading"), false);
  show($("#staff-signin"), false);
  show($("#till"));
  renderWho();
  loadRewards();
  $("#scan-code").focus();
}

function renderWho() {
  const role = api.session()?.role || "";
  const label = has(`role.${role}`) ? t(`role.${role}`) : role;
  $("#staff-who").textContent = t("staff.as", { role: label });
}

// --- scanning ------------------------------------------------------------------------------

/** A USB scanner types the code and presses Enter, which submits this form. */
async function resolve(event) {
  event.preventDefault();
  const input = $("#scan-code");
  const code = input.value.trim();
  say($("#scan-error"));
  if (!code) {
    input.focus();
    return;
  }
  await busy(event.currentTarget, async () => {
    try {
      const found = await api.json("POST", "/api/v1/cards/resolve", { body: { code } });
      state.member = found;
      state.code = code;
      say($("#redeem-result"));
      say($("#redeem-error"));
      renderMember();
    } catch (error) {
      clearMember();
      failed(error, $("#scan-error"));
    }
  });
  // Keep the code field ready for the next scan, which replaces the selected text.
  input.select();
}

function clearMember() {
  state.member = null;
  state.code = null;
  show($("#member-panel"), false);
}

function renderMember() {
  const m = state.member;
  if (!m) return;
  $("#till-member-name").textContent = m.name;
  $("#till-member-no").textContent = m.member_no;
  $("#till-member-tier").textContent = tierName(m.tier);
  $("#till-balance").textContent = formatPoints(m.points_balance);
  const badge = $("#till-authorise");
  badge.textContent = t(m.can_redeem ? "till.can_redeem" : "till.cannot_redeem");
  badge.classList.toggle("warn", !m.can_redeem);
  $("#redeem-fields").disabled = !m.can_redeem;
  show($("#member-panel"));
}

// --- camera scanning (BarcodeDetector where the browser has it) -----------------------------

function initCamera() {
  const supported = "BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia;
  show($("#camera"), Boolean(supported));
  $("#camera").addEventListener("click", () => (state.stream ? stopCamera() : startCamera()));
}

async function startCamera() {
  const video = $("#camera-view");
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    if (!formats.includes("qr_code")) throw new Error("no QR support");
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
    video.srcObject = state.stream;
    await video.play();
    show($("#camera-box"));
    renderCameraButton();
    scanFrames(detector);
  } catch {
    stopCamera();
    say($("#scan-error"), t("scan.camera.unavailable"));
    $("#scan-code").focus();
  }
}

async function scanFrames(detector) {
  if (!state.stream) return;
  try {
    const [found] = await detector.detect($("#camera-view"));
    if (found?.rawValue) {
      stopCamera();
      $("#scan-code").value = found.rawValue;
      $("#scan").requestSubmit();
      return;
    }
  } catch {
    // A frame that cannot be read yet (camera warming up); try the next one.
  }
  setTimeout(() => scanFrames(detector), 200);
}

function stopCamera() {
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  $("#camera-view").srcObject = null;
  show($("#camera-box"), false);
  renderCameraButton();
}

function renderCameraButton() {
  const on = Boolean(state.stream);
  $("#camera").textContent = t(on ? "scan.camera.stop" : "scan.camera");
  $("#camera").setAttribute("aria-pressed", String(on));
}

// --- redemptions ---------------------------------------------------------------------------

async function loadRewards() {
  try {
    state.rewards = await api.json("GET", "/api/v1/rewards?available=true");
    renderRewards();
  } catch (error) {
    failed(error, $("#redeem-error"));
  }
}

function renderRewards() {
  const select = $("#redeem-reward-select");
  const chosen = select.value;
  const options = state.rewards.map((r) =>
    el("option", {
      text: t("redeem.reward.option", { name: r.name, points: formatPoints(r.points_cost) }),
      attrs: { value: r.id },
    }),
  );
  fill(select, [el("option", { text: t("redeem.reward.choose"), attrs: { value: "" } }), ...options]);
  select.value = chosen;
}

async function redeem(form, body, resultFor) {
  say($("#redeem-result"));
  say($("#redeem-error"));
  await busy(form, async () => {
    try {
      const payload = { member_id: state.member.member_id, code: state.code, ...body };
      const result = await api.json("POST", "/api/v1/redemptions", {
        body: payload,
        idempotent: true,
      });
      state.member.points_balance = result.balance_after;
      renderMember();
      say($("#redeem-result"), resultFor(result));
      form.reset();
      $("#scan-code").select();
    } catch (error) {
      failed(error, $("#redeem-error"));
    }
  });
}

function redeemDone(result) {
  const text = t("redeem.done", {
    points: formatPoints(result.points),
    balance: formatPoints(result.balance_after),
  });
  return result.voucher_code
    ? `${text} ${t("redeem.voucher", { code: result.voucher_code })}`
    : text;
}

function redeemPoints(event) {
  event.preventDefault();
  const raw = $("#redeem-points-input").value.trim();
  if (!/^[1-9]\d*$/.test(raw)) {
    say($("#redeem-error"), t("error.validation-error"));
    $("#redeem-points-input").focus();
    return;
  }
  redeem(event.currentTarget, { points: Number(raw) }, redeemDone);
}

function redeemReward(event) {
  event.preventDefault();
  const rewardId = Number($("#redeem-reward-select").value);
  if (!rewardId) {
    say($("#redeem-error"), t("error.validation-error"));
    $("#redeem-reward-select").focus();
    return;
  }
  redeem(event.currentTarget, { reward_id: rewardId }, redeemDone);
}

// --- vouchers ------------------------------------------------------------------------------

const voucherPath = (code) => `/api/v1/vouchers/${encodeURIComponent(code)}`;

async function lookUpVoucher(event) {
  event.preventDefault();
  const code = $("#voucher-input").value.trim();
  clearVoucher();
  if (!code) {
    $("#voucher-input").focus();
    return;
  }
  await busy(event.currentTarget, async () => {
    try {
      state.voucher = await api.json("GET", voucherPath(code));
      renderVoucher();
    } catch (error) {
      failed(error, $("#voucher-error"));
    }
  });
}

async function useVoucher() {
  const code = state.voucher?.code;
  if (!code) return;
  say($("#voucher-result"));
  say($("#voucher-error"));
  const button = $("#voucher-use");
  button.disabled = true;
  try {
    state.voucher = await api.json("POST", `${voucherPath(code)}/use`);
    renderVoucher();
    say($("#voucher-result"), t("vouchers.used", { code }));
  } catch (error) {
    failed(error, $("#voucher-error"));
  } finally {
    button.disabled = false;
  }
}

function clearVoucher() {
  state.voucher = null;
  show($("#voucher-details"), false);
  say($("#voucher-result"));
  say($("#voucher-error"));
}

function renderVoucher() {
  const v = state.voucher;
  if (!v) return;
  const reward = state.rewards.find((r) => r.id === v.reward_id);
  $("#voucher-found-code").textContent = v.code;
  $("#voucher-status").textContent = has(`status.${v.status}`) ? t(`status.${v.status}`) : v.status;
  $("#voucher-reward-name").textContent = reward ? reward.name : `#${v.reward_id}`;
  $("#voucher-expiry").textContent = v.expires_at ? formatDate(v.expires_at) : "";
  show($("#voucher-use"), v.status === "issued");
  show($("#voucher-details"));
}

function rerender() {
  if (!api.session()) return;
  renderWho();
  renderMember();
  renderRewards();
  renderVoucher();
  renderCameraButton();
}

function start() {
  initLanguage($("#lang"));
  document.addEventListener("languagechange", rerender);
  $("#staff-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => signOut());
  $("#scan").addEventListener("submit", resolve);
  $("#redeem-points").addEventListener("submit", redeemPoints);
  $("#redeem-reward").addEventListener("submit", redeemReward);
  $("#voucher-form").addEventListener("submit", lookUpVoucher);
  $("#voucher-use").addEventListener("click", useVoucher);
  initCamera();
  if (api.session()) openTill();
  else showSignin();
}

start();
