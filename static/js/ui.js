// Small DOM helpers shared by the pages: lookup, visibility, messages and formatting.

import { has, language, t } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export function show(element, visible = true) {
  element.hidden = !visible;
}

/** The words to show for an ApiError; `overrides` maps a problem slug to a label key. */
export function errorMessage(error, overrides = {}) {
  const slug = error?.slug || "generic";
  const key = overrides[slug] || `error.${slug}`;
  if (slug === "validation-error" && error.problem?.detail) {
    return `${t(key)} (${error.problem.detail})`;
  }
  return has(key) ? t(key) : error?.problem?.detail || t("error.generic");
}

/** Put a message in a live region (role="alert" or role="status"), or clear it. */
export function say(region, text = "") {
  region.textContent = text;
  show(region, Boolean(text));
}

/** Show a failed request in `region`; a refused token (401) calls `signOut` instead. */
export function reportFailure(error, region, signOut) {
  if (error.status === 401) {
    signOut(t("error.unauthorized"));
    return;
  }
  say(region, errorMessage(error));
}

/** Run `work` with the form's buttons disabled, so a double tap sends one request. */
export async function busy(form, work) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.removeAttribute("aria-busy");
  }
}

const locale = () => (language() === "th" ? "th-TH" : "en-GB");

export function formatPoints(points) {
  return new Intl.NumberFormat(locale()).format(points);
}

/** A decimal money string ("1234.50") with grouping and the currency symbol; no floats. */
export function formatMoney(amount, currency = "THB") {
  const [whole, fraction = "00"] = String(amount).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const symbol = new Intl.NumberFormat("en", {
    style: "currency",
    currency,
    currencyDisplay: "narrowSymbol",
  })
    .formatToParts(0)
    .find((part) => part.type === "currency").value;
  return `${symbol}${grouped}.${fraction.padEnd(2, "0")}`;
}

export function formatDate(iso) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(iso),
  );
}

/** Replace an element's children with `nodes`. */
export function fill(element, nodes) {
  element.replaceChildren(...nodes);
}

/** A new element with text content and attributes. */
export function el(tag, { text, className, attrs = {} } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
