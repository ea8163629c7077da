// The page: builds its DOM with createElement/textContent only (api data is never parsed as HTML).

import { apiBase, createItem, fetchReadiness, listItems, type Check, type FetchLike, type Item, type Readiness } from "./api";

export interface AppOptions {
  /** VITE_API_URL as built in; empty = this project has no api. */
  apiUrl: string | undefined;
  fetch?: FetchLike;
}

export interface App {
  /** Resolves when the first status + list requests have settled (tests await it). */
  ready: Promise<void>;
  refreshStatus(): Promise<void>;
  refreshItems(): Promise<void>;
  /** The latest form submission (resolved when idle): lets tests wait for POST + refresh. */
  lastSubmission(): Promise<void>;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function section(id: string, title: string): HTMLElement {
  const s = el("section", { "aria-labelledby": `${id}-heading` });
  s.append(el("h2", { id: `${id}-heading` }, title));
  return s;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const MARKS: Record<Check["status"], string> = { ok: "✓", failing: "✗", disabled: "–" };

export function renderStatus(target: HTMLElement, readiness: Readiness): void {
  const badge = el("p", { class: `badge badge-${readiness.state}`, "data-state": readiness.state });
  badge.append(el("strong", {}, readiness.state === "ok" ? "ok" : "degraded"));
  badge.append(` (HTTP ${readiness.httpStatus})`);
  const children: Node[] = [badge];
  if (readiness.checks.length > 0) {
    const list = el("ul", { class: "checks", "aria-label": "Readiness checks" });
    for (const check of readiness.checks) {
      const li = el("li", { "data-check": check.name, "data-status": check.status });
      li.append(el("span", { class: `mark mark-${check.status}`, "aria-hidden": "true" }, MARKS[check.status]));
      li.append(el("span", { class: "check-name" }, check.name));
      li.append(el("span", { class: "check-detail" }, check.detail));
      list.append(li);
    }
    children.push(list);
  } else {
    children.push(el("p", {}, "No dependency checks reported."));
  }
  target.replaceChildren(...children);
}

export function renderItems(target: HTMLElement, items: Item[]): void {
  if (items.length === 0) {
    target.replaceChildren(el("p", { class: "empty" }, "No items yet: add the first one below."));
    return;
  }
  const list = el("ul", { class: "items" });
  for (const item of items) {
    const li = el("li", { "data-id": String(item.id) });
    li.append(el("span", { class: "item-name" }, item.name));
    if (item.created_at) {
      li.append(" ");
      li.append(el("time", { datetime: item.created_at }, item.created_at));
    }
    list.append(li);
  }
  target.replaceChildren(list);
}

function renderError(target: HTMLElement, text: string): void {
  target.replaceChildren(el("p", { class: "error", role: "alert" }, text));
}

export function mount(root: HTMLElement, options: AppOptions): App {
  const base = apiBase(options.apiUrl);
  const title = document.title || "App";
  root.replaceChildren(el("h1", {}, title));

  if (!base) {
    const s = section("api", "API");
    s.append(el("p", { class: "no-api" }, "The api is not part of this project, so this page makes no requests."));
    root.append(s);
    const noop = async () => {};
    return { ready: Promise.resolve(), refreshStatus: noop, refreshItems: noop, lastSubmission: noop };
  }

  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));

  const statusSection = section("status", "API status");
  const statusBox = el("div", { id: "status", role: "status", "aria-live": "polite", "aria-busy": "true" }, "Checking…");
  statusSection.append(statusBox);

  const itemsSection = section("items", "Items");
  const itemsBox = el("div", { id: "items", "aria-live": "polite", "aria-busy": "true" }, "Loading…");

  const form = el("form", { id: "item-form", novalidate: "" });
  const label = el("label", { for: "item-name" }, "Name");
  const input = el("input", { id: "item-name", name: "name", type: "text", required: "", maxlength: "200", autocomplete: "off" });
  const button = el("button", { type: "submit" }, "Add item");
  const formMessage = el("p", { id: "form-message", class: "form-message", "aria-live": "polite" });
  input.setAttribute("aria-describedby", formMessage.id);
  form.append(label, input, button, formMessage);
  itemsSection.append(itemsBox, form);
  root.append(statusSection, itemsSection);

  async function refreshStatus(): Promise<void> {
    statusBox.setAttribute("aria-busy", "true");
    try {
      renderStatus(statusBox, await fetchReadiness(base, fetchImpl));
    } catch (error) {
      renderError(statusBox, `Could not reach the api: ${message(error)}`);
    } finally {
      statusBox.setAttribute("aria-busy", "false");
    }
  }

  async function refreshItems(): Promise<void> {
    itemsBox.setAttribute("aria-busy", "true");
    try {
      renderItems(itemsBox, await listItems(base, fetchImpl));
    } catch (error) {
      renderError(itemsBox, `Could not load items: ${message(error)}`);
    } finally {
      itemsBox.setAttribute("aria-busy", "false");
    }
  }

  let pending: Promise<void> = Promise.resolve();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!name) {
      formMessage.textContent = "Type a name first.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    button.disabled = true;
    formMessage.textContent = "Saving…";
    pending = createItem(base, name, fetchImpl)
      .then(async (item) => {
        input.value = "";
        formMessage.textContent = `Added “${item.name}”.`;
        await refreshItems();
      })
      .catch((error: unknown) => {
        formMessage.textContent = `Could not add the item: ${message(error)}`;
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  const ready = Promise.all([refreshStatus(), refreshItems()]).then(() => undefined);
  return { ready, refreshStatus, refreshItems, lastSubmission: () => pending };
}
