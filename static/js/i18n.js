// Thai and English labels. Thai is the default; the choice is kept in localStorage.

const STORAGE_KEY = "loyalty.lang";
export const LANGUAGES = ["th", "en"];

const MESSAGES = {
  th: {
    "lang.switch": "English",
    "lang.switch.label": "Switch to English",
    "signout": "ออกจากระบบ",
    "loading": "กำลังโหลด…",
    "noscript": "หน้านี้ต้องใช้ JavaScript",
    "landing.title": "Loyalty — สะสมแต้มและแลกของรางวัล",
    "landing.heading": "ยินดีต้อนรับ",
    "landing.intro": "สะสมแต้มทุกครั้งที่ซื้อ แล้วแลกของรางวัลได้ที่ร้าน",
    "landing.card": "บัตรสมาชิกของฉัน",
    "landing.card.desc": "ดูแต้ม ระดับสมาชิก ประวัติ และแสดงคิวอาร์โค้ดที่เคาน์เตอร์",
    "landing.till": "หน้าจอแคชเชียร์",
    "landing.till.desc": "สแกนบัตรสมาชิก แลกแต้ม และใช้บัตรกำนัล",
    "landing.api": "เอกสาร API",
    "landing.api.desc": "สำหรับผู้เชื่อมต่อระบบ POS",
    "card.title": "บัตรสมาชิก",
    "signin.heading": "เข้าสู่ระบบสมาชิก",
    "signin.destination": "เบอร์โทรศัพท์หรืออีเมล",
    "signin.destination.hint": "เราจะส่งรหัสผ่านครั้งเดียว 6 หลักให้คุณ",
    "signin.request": "ขอรหัส",
    "signin.sent": "ถ้ามีสมาชิกที่ใช้ {destination} เราได้ส่งรหัสไปแล้ว",
    "signin.code": "รหัสผ่านครั้งเดียว",
    "signin.code.hint": "ป้อนรหัส 6 หลักที่ได้รับ",
    "signin.verify": "เข้าสู่ระบบ",
    "signin.restart": "ใช้เบอร์หรืออีเมลอื่น",
    "signin.wrong": "รหัสไม่ถูกต้องหรือหมดอายุ",
    "member.number": "หมายเลขสมาชิก",
    "member.tier": "ระดับ",
    "points.balance": "แต้มคงเหลือ",
    "points.pending": "รอดำเนินการ {points} แต้ม",
    "points.unit": "แต้ม",
    "qr.heading": "แสดงคิวอาร์โค้ดนี้ที่เคาน์เตอร์",
    "qr.alt": "คิวอาร์โค้ดบัตรสมาชิก",
    "qr.countdown": "รหัสใหม่ใน {seconds} วินาที",
    "qr.static": "รหัสบัตรแบบพิมพ์ ไม่เปลี่ยนแปลง",
    "tier.member": "สมาชิก",
    "tier.silver": "ซิลเวอร์",
    "tier.gold": "โกลด์",
    "tier.platinum": "แพลทินัม",
    "skip": "ข้ามไปยังเนื้อหา",
    "tier.heading": "ความคืบหน้าระดับสมาชิก",
    "tier.next.spend": "ใช้จ่ายอีก {amount} เพื่อเลื่อนเป็นระดับ {tier}",
    "tier.next.points": "สะสมอีก {amount} แต้มเพื่อเลื่อนเป็นระดับ {tier}",
    "tier.top": "คุณอยู่ในระดับสูงสุดแล้ว",
    "tier.keep.spend": "ใช้จ่ายอีก {amount} ก่อน {date} เพื่อรักษาระดับ {tier}",
    "tier.keep.points": "สะสมอีก {amount} แต้มก่อน {date} เพื่อรักษาระดับ {tier}",
    "tier.keep.done": "คุณรักษาระดับ {tier} ได้แล้วในการทบทวนระดับวันที่ {date}",
    "tier.qualifying.spend": "ยอดใช้จ่ายสะสม {amount}",
    "tier.qualifying.points": "แต้มสะสมเพื่อจัดระดับ {amount} แต้ม",
    "tier.progress.label": "ความคืบหน้าสู่ระดับถัดไป",
    "rewards.heading": "ของรางวัล",
    "rewards.none": "ยังไม่มีของรางวัลในขณะนี้",
    "rewards.cost": "{points} แต้ม",
    "rewards.redeem": "แลก",
    "rewards.confirm": "ยืนยันใช้ {points} แต้ม",
    "rewards.cancel": "ยกเลิก",
    "rewards.short": "ขาดอีก {points} แต้ม",
    "voucher.heading": "บัตรกำนัลของคุณ",
    "voucher.code": "รหัสบัตรกำนัล",
    "voucher.show": "แสดงรหัสนี้ที่เคาน์เตอร์เพื่อรับของรางวัล",
    "voucher.alt": "คิวอาร์โค้ดบัตรกำนัล {code}",
    "voucher.expires": "ใช้ได้ถึง {date}",
    "claim.heading": "เพิ่มแต้มจากใบเสร็จ",
    "claim.intro": "ลืมแสดงบัตร? ใส่เลขที่ใบเสร็จและยอดรวมเพื่อรับแต้ม",
    "claim.receipt": "เลขที่ใบเสร็จ",
    "claim.total": "ยอดรวม",
    "claim.store": "รหัสสาขา (ไม่บังคับ)",
    "claim.submit": "รับแต้ม",
    "claim.done": "ได้รับ {points} แต้มจากใบเสร็จ {receipt}",
    "claim.queued": "ได้รับใบเสร็จ {receipt} แล้ว แต้มจะเข้าบัญชีในไม่ช้า",
    "history.heading": "ประวัติแต้ม",
    "history.none": "ยังไม่มีรายการ",
    "kind.earn": "สะสมแต้ม",
    "kind.redeem": "แลกแต้ม",
    "kind.expire": "แต้มหมดอายุ",
    "kind.adjust": "ปรับปรุงแต้ม",
    "kind.reverse": "รายการย้อนกลับ",
    "kind.bonus": "โบนัส",
    "till.title": "แคชเชียร์",
    "staff.heading": "เข้าสู่ระบบพนักงาน",
    "staff.email": "อีเมล",
    "staff.password": "รหัสผ่าน",
    "staff.submit": "เข้าสู่ระบบ",
    "staff.as": "พนักงาน: {role}",
    "staff.wrong": "อีเมลหรือรหัสผ่านไม่ถูกต้อง",
    "role.cashier": "แคชเชียร์",
    "role.admin": "ผู้ดูแลระบบ",
    "role.marketer": "ฝ่ายการตลาด",
    "scan.heading": "สแกนบัตรสมาชิก",
    "scan.code": "รหัสบัตรสมาชิก",
    "scan.hint": "สแกนด้วยเครื่องอ่านบาร์โค้ด หรือพิมพ์รหัสแล้วกด Enter",
    "scan.submit": "ค้นหา",
    "scan.camera": "สแกนด้วยกล้อง",
    "scan.camera.stop": "ปิดกล้อง",
    "scan.camera.view": "ภาพจากกล้อง",
    "scan.camera.unavailable": "ใช้กล้องไม่ได้ กรุณาใช้เครื่องอ่านบาร์โค้ดหรือพิมพ์รหัส",
    "till.member.heading": "สมาชิก",
    "till.can_redeem": "รหัสนี้ใช้ยืนยันการแลกแต้มได้",
    "till.cannot_redeem": "รหัสบัตรแบบพิมพ์ใช้แลกแต้มไม่ได้ ขอให้สมาชิกแสดงบัตรดิจิทัล",
    "redeem.points": "จำนวนแต้มที่จะแลก",
    "redeem.points.submit": "แลกแต้ม",
    "redeem.reward": "ของรางวัล",
    "redeem.reward.choose": "เลือกของรางวัล",
    "redeem.reward.option": "{name} ({points} แต้ม)",
    "redeem.reward.submit": "แลกของรางวัล",
    "redeem.done": "แลก {points} แต้มแล้ว คงเหลือ {balance} แต้ม",
    "redeem.voucher": "รหัสบัตรกำนัล: {code}",
    "vouchers.heading": "บัตรกำนัล",
    "vouchers.code": "รหัสบัตรกำนัล",
    "vouchers.submit": "ตรวจสอบ",
    "vouchers.status": "สถานะ",
    "vouchers.expires": "หมดอายุ",
    "vouchers.reward": "ของรางวัล",
    "vouchers.use": "ใช้บัตรกำนัล",
    "vouchers.used": "ใช้บัตรกำนัล {code} แล้ว",
    "status.issued": "ใช้ได้",
    "status.used": "ใช้แล้ว",
    "status.void": "ยกเลิกแล้ว",
    "error.network": "เชื่อมต่อเซิร์ฟเวอร์ไม่ได้ กรุณาลองอีกครั้ง",
    "error.unauthorized": "กรุณาเข้าสู่ระบบอีกครั้ง",
    "error.forbidden": "บัญชีนี้ไม่มีสิทธิ์ทำรายการนี้",
    "error.rate-limited": "ลองหลายครั้งเกินไป กรุณารอสักครู่",
    "error.insufficient-points": "แต้มไม่พอ",
    "error.code-expired": "รหัสหมดอายุแล้ว ขอให้สมาชิกแสดงรหัสปัจจุบัน",
    "error.code-invalid": "ไม่รู้จักรหัสนี้ อาจไม่ใช่บัตรสมาชิกหรือถูกปลอมแปลง",
    "error.card-blocked": "บัตรนี้ถูกระงับ",
    "error.card-replaced": "บัตรนี้ถูกเปลี่ยนแล้ว ให้ใช้บัตรใหม่",
    "error.unknown-member": "ไม่พบสมาชิก",
    "error.unknown-voucher": "ไม่พบบัตรกำนัลนี้",
    "error.voucher-not-usable": "บัตรกำนัลนี้ใช้ไม่ได้ (ใช้แล้วหรือหมดอายุ)",
    "error.reward-unavailable": "ของรางวัลนี้แลกไม่ได้ในขณะนี้",
    "error.unknown-reward": "ไม่พบของรางวัลนี้",
    "error.nothing-to-claim": "ไม่พบใบเสร็จที่ตรงกับเลขที่และยอดรวมนี้ หรือมีผู้รับแต้มไปแล้ว",
    "error.validation-error": "ข้อมูลไม่ถูกต้อง",
    "error.generic": "เกิดข้อผิดพลาด กรุณาลองอีกครั้ง",
  },
  en: {
    "lang.switch": "ภาษาไทย",
    "lang.switch.label": "เปลี่ยนเป็นภาษาไทย",
    "signout": "Sign out",
    "loading": "Loading…",
    "noscript": "This page needs JavaScript.",
    "landing.title": "Loyalty — collect points, redeem rewards",
    "landing.heading": "Welcome",
    "landing.intro": "Collect points on every purchase and redeem rewards in store.",
    "landing.card": "My membership card",
    "landing.card.desc": "See your points, tier and history, and show your QR code at the till.",
    "landing.till": "Cashier till",
    "landing.till.desc": "Scan member cards, redeem points and use vouchers.",
    "landing.api": "API documentation",
    "landing.api.desc": "For POS integrators.",
    "card.title": "Membership card",
    "signin.heading": "Member sign-in",
    "signin.destination": "Phone number or email",
    "signin.destination.hint": "We will send you a six-digit one-time code.",
    "signin.request": "Send code",
    "signin.sent": "If a member uses {destination}, a code is on its way.",
    "signin.code": "One-time code",
    "signin.code.hint": "Enter the six-digit code you received.",
    "signin.verify": "Sign in",
    "signin.restart": "Use another phone or email",
    "signin.wrong": "The code is wrong or has expired.",
    "member.number": "Member number",
    "member.tier": "Tier",
    "points.balance": "Points balance",
    "points.pending": "{points} points pending",
    "points.unit": "points",
    "qr.heading": "Show this QR code at the till",
    "qr.alt": "Membership card QR code",
    "qr.countdown": "New code in {seconds} s",
    "qr.static": "Printed card code, does not change",
    "tier.member": "Member",
    "tier.silver": "Silver",
    "tier.gold": "Gold",
    "tier.platinum": "Platinum",
    "skip": "Skip to content",
    "tier.heading": "Tier progress",
    "tier.next.spend": "Spend {amount} more to reach {tier}",
    "tier.next.points": "Earn {amount} more points to reach {tier}",
    "tier.top": "You are in the top tier",
    "tier.keep.spend": "Spend {amount} more before {date} to keep {tier}",
    "tier.keep.points": "Earn {amount} more points before {date} to keep {tier}",
    "tier.keep.done": "You keep {tier} at the review on {date}",
    "tier.qualifying.spend": "Qualifying spend {amount}",
    "tier.qualifying.points": "Qualifying points {amount}",
    "tier.progress.label": "Progress to the next tier",
    "rewards.heading": "Rewards",
    "rewards.none": "No rewards right now.",
    "rewards.cost": "{points} points",
    "rewards.redeem": "Redeem",
    "rewards.confirm": "Confirm: spend {points} points",
    "rewards.cancel": "Cancel",
    "rewards.short": "{points} more points needed",
    "voucher.heading": "Your voucher",
    "voucher.code": "Voucher code",
    "voucher.show": "Show this code at the till to collect your reward.",
    "voucher.alt": "Voucher QR code {code}",
    "voucher.expires": "Valid until {date}",
    "claim.heading": "Claim a receipt",
    "claim.intro": "Forgot your card? Enter the receipt number and total to get its points.",
    "claim.receipt": "Receipt number",
    "claim.total": "Total",
    "claim.store": "Store code (optional)",
    "claim.submit": "Claim points",
    "claim.done": "{points} points added from receipt {receipt}",
    "claim.queued": "Receipt {receipt} received; its points arrive shortly",
    "history.heading": "Points history",
    "history.none": "No activity yet.",
    "kind.earn": "Earned",
    "kind.redeem": "Redeemed",
    "kind.expire": "Expired",
    "kind.adjust": "Adjusted",
    "kind.reverse": "Reversed",
    "kind.bonus": "Bonus",
    "till.title": "Till",
    "staff.heading": "Staff sign-in",
    "staff.email": "Email",
    "staff.password": "Password",
    "staff.submit": "Sign in",
    "staff.as": "Staff: {role}",
    "staff.wrong": "Wrong email or password.",
    "role.cashier": "cashier",
    "role.admin": "admin",
    "role.marketer": "marketer",
    "scan.heading": "Scan a member card",
    "scan.code": "Member card code",
    "scan.hint": "Scan with the barcode scanner, or type the code and press Enter.",
    "scan.submit": "Look up",
    "scan.camera": "Scan with camera",
    "scan.camera.stop": "Stop camera",
    "scan.camera.view": "Camera view",
    "scan.camera.unavailable": "The camera is not available: use the scanner or type the code.",
    "till.member.heading": "Member",
    "till.can_redeem": "This code can authorise a redemption",
    "till.cannot_redeem": "A printed card's code cannot authorise a redemption: ask for the digital card.",
    "redeem.points": "Points to redeem",
    "redeem.points.submit": "Redeem points",
    "redeem.reward": "Reward",
    "redeem.reward.choose": "Choose a reward",
    "redeem.reward.option": "{name} ({points} points)",
    "redeem.reward.submit": "Redeem reward",
    "redeem.done": "Redeemed {points} points. New balance: {balance}",
    "redeem.voucher": "Voucher code: {code}",
    "vouchers.heading": "Vouchers",
    "vouchers.code": "Voucher code",
    "vouchers.submit": "Look up",
    "vouchers.status": "Status",
    "vouchers.expires": "Expires",
    "vouchers.reward": "Reward",
    "vouchers.use": "Mark as used",
    "vouchers.used": "Voucher {code} used",
    "status.issued": "Valid",
    "status.used": "Used",
    "status.void": "Cancelled",
    "error.network": "Cannot reach the server. Please try again.",
    "error.unauthorized": "Please sign in again.",
    "error.forbidden": "This account is not allowed to do this.",
    "error.rate-limited": "Too many tries. Please wait a moment.",
    "error.insufficient-points": "Not enough points.",
    "error.code-expired": "This code has expired: ask the member to show the current code.",
    "error.code-invalid": "Code not recognised: it is not a valid membership card code.",
    "error.card-blocked": "This card is blocked.",
    "error.card-replaced": "This card was replaced: use the new card.",
    "error.unknown-member": "No such member.",
    "error.unknown-voucher": "No voucher has this code.",
    "error.voucher-not-usable": "This voucher cannot be used (already used or expired).",
    "error.reward-unavailable": "This reward cannot be redeemed right now.",
    "error.unknown-reward": "No such reward.",
    "error.nothing-to-claim": "No unclaimed receipt matches this number and total.",
    "error.validation-error": "Please check the input.",
    "error.generic": "Something went wrong. Please try again.",
  },
};

let current = readChoice();

function readChoice() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(saved) ? saved : "th";
  } catch {
    return "th";
  }
}

export function language() {
  return current;
}

export function has(key) {
  return key in MESSAGES[current];
}

/** The label for `key` in the current language, with {name} placeholders filled in. */
export function t(key, vars = {}) {
  const text = MESSAGES[current][key] ?? MESSAGES.th[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Fill every [data-i18n] element (and data-i18n-<attribute> attributes) under `root`. */
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const attr of ["placeholder", "aria-label", "alt", "title"]) {
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      node.setAttribute(attr, t(node.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

function apply() {
  document.documentElement.lang = current;
  translate();
  document.dispatchEvent(new CustomEvent("languagechange", { detail: current }));
}

export function setLanguage(lang) {
  current = LANGUAGES.includes(lang) ? lang : "th";
  try {
    localStorage.setItem(STORAGE_KEY, current);
  } catch {
    // Private browsing may refuse storage; the choice then lasts for this page only.
  }
  apply();
}

/** Apply the saved language and make the toggle button switch between Thai and English. */
export function initLanguage(toggle) {
  const other = () => (current === "th" ? "en" : "th");
  document.addEventListener("languagechange", () => toggle?.setAttribute("lang", other()));
  apply();
  toggle?.addEventListener("click", () => setLanguage(other()));
}
