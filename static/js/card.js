// The shopper's card page: one-time-code sign-in, balance, rotating QR, rewards, claims.

import { apiClient } from "./api.js";
import { has, initLanguage, t } from "./i18n.js";
import {
  $,
  busy,
  el,
  errorMessage,
  fill,
  formatDate,
  formatMoney,
  formatPoints,
  reportFailure,
  say,
  show,
} from "./ui.js";

const api = apiClient("loyalty.shopper");
const currency = document.body.dataset.currency || "THB";
const state = {
  destination: null,
  member: null,
  rewards: [],
  ledger: [],
  confirming: null,
  voucher: null,
  expiresAt: null,
  codeTimer: null,
  images: {},
};

const memberId = () => api.session()?.memberId;
const base = () => `/api/v1/members/${memberId()}`;

function destinationBody(value) {
  return value.includes("@") ? { email: value } : { phone: value };
}

function tierName(code) {
  return has(`tier.${code}`) ? t(`tier.${code}`) : code.charAt(0).toUpperCase() + code.slice(1);
}

/** Minor units of a decimal string, for ratios without floating-point money. */
function minor(amount) {
  const [whole, fraction = ""] = String(amount).split(".");
  return Number(whole) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2));
}

function setImage(img, name, url) {
  if (state.images[name]) URL.revokeObjectURL(state.images[name]);
  state.images[name] = url;
  img.src = url;
}

// --- sign-in -------------------------------------------------------------------------------

function showSignin(message = "") {
  show($("#loading"), false);
  show($("#member"), false);
  show($("#signin"));
  show($("#otp-request"));
  show($("#otp-verify"), false);
  say($("#signin-error"), message);
  $("#destination").focus();
}

async function requestCode(event) {
  event.preventDefault();
  const value = $("#destination").value.trim();
  say($("#signin-error"));
  if (!value) {
    say($("#signin-error"), t("error.validation-error"));
    $("#destination").focus();
    return;
  }
  await busy(event.currentTarget, async () => {
    try {
      await api.json("POST", "/api/v1/auth/otp/request", { body: destinationBody(value) });
      state.destination = value;
      show($("#otp-request"), false);
      show($("#otp-verify"));
      renderSent();
      $("#otp-code").focus();
    } catch (error) {
      say($("#signin-error"), errorMessage(error));
    }
  });
}

function renderSent() {
  if (state.destination) say($("#otp-sent"), t("signin.sent", { destination: state.destination }));
}

async function verifyCode(event) {
  event.preventDefault();
  const code = $("#otp-code").value.trim();
  say($("#signin-error"));
  if (!/^\d{6}$/.test(code)) {
    say($("#signin-error"), t("signin.wrong"));
    $("#otp-code").focus();
    return;
  }
  await busy(event.currentTarget, async () => {
    try {
      const body = { ...destinationBody(state.destination), code };
      const result = await api.json("POST", "/api/v1/auth/otp/verify", { body });
      api.remember({ token: result.access_token, memberId: result.member_id });
      $("#otp-verify").reset();
      await openCard();
    } catch (error) {
      say($("#signin-error"), errorMessage(error, { unauthorized: "signin.wrong" }));
      $("#otp-code").select();
    }
  });
}

function restartSignin() {
  $("#otp-verify").reset();
  state.destination = null;
  showSignin();
}

function signOut(message = "") {
  clearTimeout(state.codeTimer);
  api.forget();
  Object.assign(state, { member: null, voucher: null, confirming: null, expiresAt: null });
  Object.values(state.images).forEach((url) => URL.revokeObjectURL(url));
  state.images = {};
  show($("#voucher"), false);
  showSignin(message);
}

function failed(error, region) {
  reportFailure(error, region, signOut);
}

// --- the card ------------------------------------------------------------------------------

async function openCard() {
  show($("#loading"));
  try {
    await Promise.all([loadMember(), loadLedger(), loadRewards()]);
  } catch (error) {
    if (error.status === 401 || error.status === 403 || error.status === 404) {
      signOut(t("error.unauthorized"));
      return;
    }
    show($("#loading"), false);
    showSignin(errorMessage(error));
    return;
  }
  show($("#loading"), false);
  show($("#signin"), false);
  show($("#member"));
  $("#member-name").focus();
  refreshCode();
}

async function loadMember() {
  state.member = await api.json("GET", base());
  renderMember();
  // What the member can afford depends on the balance, which may arrive after the rewards.
  renderRewards();
}

function renderMember() {
  const m = state.member;
  if (!m) return;
  $("#member-name").textContent = m.name;
  $("#member-no").textContent = m.member_no;
  $("#member-tier").textContent = tierName(m.tier);
  $("#points-balance").textContent = formatPoints(m.points_balance);
  $("#points-pending").textContent = t("points.pending", {
    points: formatPoints(m.points_pending),
  });
  renderTier(m.tier_progress);
}

/** How a tier amount is shown and measured: money for a spend basis, points for points. */
function tierUnit(basis) {
  if (basis === "points") return { key: "points", text: formatPoints, count: Number };
  return { key: "spend", text: (amount) => formatMoney(amount, currency), count: minor };
}

function renderTier(progress) {
  const unit = tierUnit(progress.basis);
  $("#tier-qualifying").textContent = t(`tier.qualifying.${unit.key}`, {
    amount: unit.text(progress.qualifying),
  });
  renderTierKeep(progress, unit);
  if (!progress.next_tier) {
    Object.assign($("#tier-progress"), { max: 1, value: 1 });
    $("#tier-text").textContent = t("tier.top");
    return;
  }
  const reached = unit.count(progress.qualifying);
  Object.assign($("#tier-progress"), {
    max: reached + unit.count(progress.to_next),
    value: reached,
  });
  $("#tier-text").textContent = t(`tier.next.${unit.key}`, {
    amount: unit.text(progress.to_next),
    tier: tierName(progress.next_tier),
  });
}

/** What keeps the current tier at its next review; the lowest tier has nothing to keep. */
function renderTierKeep(progress, unit) {
  const line = $("#tier-keep");
  const held = progress.to_keep !== null && Boolean(progress.keep_by);
  show(line, held);
  if (!held) return;
  const kept = unit.count(progress.to_keep) === 0;
  line.textContent = t(kept ? "tier.keep.done" : `tier.keep.${unit.key}`, {
    amount: unit.text(progress.to_keep),
    tier: tierName(progress.tier),
    date: formatDate(progress.keep_by),
  });
}

// --- the rotating QR code -----------------------------------------------------------------

async function refreshCode() {
  clearTimeout(state.codeTimer);
  if (!memberId()) return;
  try {
    const current = await api.json("GET", `${base()}/card/code`);
    // The image is fetched second, so it is never older than the expiry it is shown with.
    setImage($("#card-qr"), "card", await api.imageUrl(`${base()}/card/qr.svg`));
    const unchanged = current.expires_at && current.expires_at === state.expiresAt;
    state.expiresAt = current.expires_at;
    say($("#qr-error"));
    if (unchanged) {
      state.codeTimer = setTimeout(refreshCode, 1000);
      return;
    }
    tick();
  } catch (error) {
    if (error.status === 401) return signOut(t("error.unauthorized"));
    say($("#qr-error"), errorMessage(error));
    state.codeTimer = setTimeout(refreshCode, 5000);
  }
}

/** Count down to the code's expiry and fetch the next code when it is reached. */
function tick() {
  if (!state.expiresAt) {
    $("#qr-countdown").textContent = t("qr.static");
    return;
  }
  const ms = api.msUntil(state.expiresAt);
  if (ms <= 0) {
    refreshCode();
    return;
  }
  renderCountdown(ms);
  state.codeTimer = setTimeout(tick, Math.min(ms, 250));
}

function renderCountdown(ms = api.msUntil(state.expiresAt)) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  $("#qr-countdown").textContent = state.expiresAt
    ? t("qr.countdown", { seconds })
    : t("qr.static");
}

// --- rewards and vouchers ------------------------------------------------------------------

async function loadRewards() {
  state.rewards = await api.json("GET", "/api/v1/rewards?available=true");
  renderRewards();
}

function rewardActions(reward) {
  const balance = state.member?.points_balance ?? 0;
  const points = formatPoints(reward.points_cost);
  if (state.confirming === reward.id) {
    return [
      el("button", {
        text: t("rewards.confirm", { points }),
        className: "primary",
        attrs: { type: "button", "data-action": "confirm", "data-reward": reward.id },
      }),
      el("button", {
        text: t("rewards.cancel"),
        className: "secondary",
        attrs: { type: "button", "data-action": "cancel", "data-reward": reward.id },
      }),
    ];
  }
  if (reward.points_cost > balance) {
    const short = formatPoints(reward.points_cost - balance);
    return [el("p", { text: t("rewards.short", { points: short }), className: "muted" })];
  }
  return [
    el("button", {
      text: t("rewards.redeem"),
      className: "primary",
      attrs: {
        type: "button",
        "data-action": "redeem",
        "data-reward": reward.id,
        "aria-label": `${t("rewards.redeem")} ${reward.name}`,
      },
    }),
  ];
}

function renderRewards() {
  const items = state.rewards.map((reward) =>
    el("li", { className: "reward", attrs: { "data-reward-id": reward.id } }, [
      el("h3", { text: reward.name }),
      ...(reward.description ? [el("p", { text: reward.description, className: "muted" })] : []),
      el("p", {
        text: t("rewards.cost", { points: formatPoints(reward.points_cost) }),
        className: "reward-cost",
      }),
      el("div", { className: "reward-actions" }, rewardActions(reward)),
    ]),
  );
  fill($("#rewards"), items);
  show($("#rewards-empty"), items.length === 0);
}

async function onRewardClick(event) {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const id = Number(button.dataset.reward);
  say($("#rewards-error"));
  if (button.dataset.action === "confirm") return redeem(id);
  state.confirming = button.dataset.action === "redeem" ? id : null;
  renderRewards();
  $(`#rewards [data-reward="${id}"]`)?.focus();
}

async function redeem(rewardId) {
  const list = $("#rewards");
  list.querySelectorAll("button").forEach((b) => (b.disabled = true));
  try {
    const body = { member_id: memberId(), reward_id: rewardId };
    const result = await api.json("POST", "/api/v1/redemptions", { body, idempotent: true });
    state.confirming = null;
    await showVoucher(result.voucher_code, rewardId);
    await Promise.all([loadMember(), loadLedger(), loadRewards()]);
  } catch (error) {
    state.confirming = null;
    renderRewards();
    failed(error, $("#rewards-error"));
  }
}

async function showVoucher(code, rewardId) {
  if (!code) return;
  const reward = state.rewards.find((r) => r.id === rewardId);
  const [voucher, url] = await Promise.all([
    api.json("GET", `/api/v1/vouchers/${encodeURIComponent(code)}`),
    api.imageUrl(`/api/v1/vouchers/${encodeURIComponent(code)}/qr.png`),
  ]);
  state.voucher = { ...voucher, rewardName: reward?.name ?? "" };
  setImage($("#voucher-qr"), "voucher", url);
  renderVoucher();
  show($("#voucher"));
  $("#voucher-heading").focus();
}

function renderVoucher() {
  const v = state.voucher;
  if (!v) return;
  $("#voucher-reward").textContent = v.rewardName;
  $("#voucher-code").textContent = v.code;
  $("#voucher-qr").alt = t("voucher.alt", { code: v.code });
  $("#voucher-expires").textContent = v.expires_at
    ? t("voucher.expires", { date: formatDate(v.expires_at) })
    : "";
}

// --- claims and history --------------------------------------------------------------------

async function claimReceipt(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const receipt = $("#claim-receipt").value.trim();
  const total = $("#claim-total").value.trim().replace(/,/g, "");
  const store = $("#claim-store").value.trim();
  say($("#claim-status"));
  say($("#claim-error"));
  if (!receipt || !/^\d+(\.\d{1,2})?$/.test(total)) {
    say($("#claim-error"), t("error.validation-error"));
    (receipt ? $("#claim-total") : $("#claim-receipt")).focus();
    return;
  }
  await busy(form, async () => {
    try {
      const body = { external_id: receipt, total, ...(store ? { store } : {}) };
      const result = await api.json("POST", "/api/v1/transactions/claim", { body });
      const key = result.status === "processed" ? "claim.done" : "claim.queued";
      say($("#claim-status"), t(key, { points: formatPoints(result.points_awarded), receipt }));
      form.reset();
      await Promise.all([loadMember(), loadLedger(), loadRewards()]);
    } catch (error) {
      failed(error, $("#claim-error"));
    }
  });
}

async function loadLedger() {
  state.ledger = await api.json("GET", `${base()}/ledger?limit=10`);
  renderHistory();
}

function renderHistory() {
  const items = state.ledger.map((entry) => {
    const sign = entry.points > 0 ? "+" : entry.points < 0 ? "−" : "";
    const kind = has(`kind.${entry.kind}`) ? t(`kind.${entry.kind}`) : entry.kind;
    return el("li", {}, [
      el("span", { className: "what" }, [
        el("span", { text: kind }),
        el("span", { text: entry.description || "", className: "muted" }),
        el("time", {
          text: formatDate(entry.occurred_at),
          className: "muted",
          attrs: { datetime: entry.occurred_at },
        }),
      ]),
      el("span", {
        text: `${sign}${formatPoints(Math.abs(entry.points))}`,
        className: `points ${entry.points >= 0 ? "plus" : "minus"}`,
      }),
    ]);
  });
  fill($("#history"), items);
  show($("#history-empty"), items.length === 0);
}

function rerender() {
  renderSent();
  if (!state.member) return;
  renderMember();
  renderRewards();
  renderHistory();
  renderVoucher();
  renderCountdown();
}

function start() {
  initLanguage($("#lang"));
  document.addEventListener("languagechange", rerender);
  $("#otp-request").addEventListener("submit", requestCode);
  $("#otp-verify").addEventListener("submit", verifyCode);
  $("#otp-restart").addEventListener("click", restartSignin);
  $("#signout").addEventListener("click", () => signOut());
  $("#rewards").addEventListener("click", onRewardClick);
  $("#claim").addEventListener("submit", claimReceipt);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.member) refreshCode();
  });
  if (memberId()) openCard();
  else showSignin();
}

start();
