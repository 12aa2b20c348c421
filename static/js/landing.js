// The landing page: labels only.

import { initLanguage } from "./i18n.js";

initLanguage(document.getElementById("lang"));
