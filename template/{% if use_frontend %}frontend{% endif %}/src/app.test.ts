import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mount } from "./app";
import type { FetchLike } from "./api";

const API = "http://api.test:8000";

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** A fetch double answering by "METHOD path"; records every call. */
function fakeApi(routes: Record<string, (init?: RequestInit) => Response>) {
  return vi.fn<FetchLike>(async (input, init) => {
    const key = `${init?.method ?? "GET"} ${new URL(input).pathname}`;
    const route = routes[key];
    if (!route) throw new Error(`unexpected request ${key}`);
    return route(init);
  });
}

let root: HTMLElement;

beforeEach(() => {
  document.title = "Test App";
  root = document.createElement("main");
  document.body.append(root);
});

afterEach(() => {
  root.remove();
});

const q = (selector: string) => root.querySelector<HTMLElement>(selector);
const qa = (selector: string) => [...root.querySelectorAll<HTMLElement>(selector)];

describe("status", () => {
  it("shows ok and each check when /readyz answers 200", async () => {
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ready", checks: { database: "ok", cache: "disabled" } }),
      "GET /items": () => json([]),
    });
    await mount(root, { apiUrl: `${API}/`, fetch }).ready;

    expect(fetch).toHaveBeenCalledWith(`${API}/readyz`, expect.anything());
    expect(q("#status [data-state]")?.dataset.state).toBe("ok");
    expect(q("#status")?.textContent).toContain("ok (HTTP 200)");
    const checks = qa("#status li").map((li) => [li.dataset.check, li.dataset.status, li.textContent]);
    expect(checks).toEqual([
      ["database", "ok", "✓databaseok"],
      ["cache", "disabled", "–cachedisabled"],
    ]);
    expect(q("#status")?.getAttribute("role")).toBe("status");
    expect(q("#status")?.getAttribute("aria-busy")).toBe("false");
  });

  it("shows degraded and the failing check when /readyz answers 503", async () => {
    const fetch = fakeApi({
      "GET /readyz": () =>
        json(
          { status: "unavailable", failing: ["cache"], checks: { database: "ok", cache: "failed: ConnectionError" } },
          503,
        ),
      "GET /items": () => json([]),
    });
    await mount(root, { apiUrl: API, fetch }).ready;

    expect(q("#status [data-state]")?.dataset.state).toBe("degraded");
    expect(q("#status")?.textContent).toContain("degraded (HTTP 503)");
    const cache = q('#status li[data-check="cache"]');
    expect(cache?.dataset.status).toBe("failing");
    expect(cache?.textContent).toContain("failed: ConnectionError");
    expect(q('#status li[data-check="database"]')?.dataset.status).toBe("ok");
  });

  it("reports an unreachable api as an alert instead of a status", async () => {
    const fetch = vi.fn<FetchLike>(async () => {
      throw new TypeError("Failed to fetch");
    });
    await mount(root, { apiUrl: API, fetch }).ready;

    expect(q("#status [role=alert]")?.textContent).toBe("Could not reach the api: Failed to fetch");
    expect(q("#status [data-state]")).toBeNull();
    expect(q("#items [role=alert]")?.textContent).toContain("Could not load items");
  });
});

describe("items", () => {
  it("lists items as text: markup in names is never interpreted", async () => {
    const evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ok", checks: {} }),
      "GET /items": () =>
        json([
          { id: 2, name: evil, created_at: "2026-01-02T00:00:00Z" },
          { id: 1, name: "first & <b>bold</b>", created_at: "2026-01-01T00:00:00Z" },
        ]),
    });
    await mount(root, { apiUrl: API, fetch }).ready;

    const names = qa("#items .item-name").map((n) => n.textContent);
    expect(names).toEqual([evil, "first & <b>bold</b>"]);
    expect(root.querySelector("#items img, #items script, #items b")).toBeNull();
    expect(q("#items li")?.dataset.id).toBe("2");
    expect(q("#items time")?.getAttribute("datetime")).toBe("2026-01-02T00:00:00Z");
  });

  it("says so when there are no items", async () => {
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ok", checks: {} }),
      "GET /items": () => json([]),
    });
    await mount(root, { apiUrl: API, fetch }).ready;
    expect(q("#items .empty")?.textContent).toMatch(/No items yet/);
  });

  it("posts the typed name as JSON, then refreshes the list", async () => {
    const stored: { id: number; name: string; created_at: string }[] = [];
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ok", checks: {} }),
      "GET /items": () => json([...stored].reverse()),
      "POST /items": (init) => {
        const { name } = JSON.parse(String(init?.body)) as { name: string };
        const item = { id: stored.length + 1, name, created_at: "2026-01-03T00:00:00Z" };
        stored.push(item);
        return json(item, 201);
      },
    });
    const app = mount(root, { apiUrl: API, fetch });
    await app.ready;

    const input = q("#item-name") as HTMLInputElement;
    // the input has an accessible name from its <label>
    expect(q('label[for="item-name"]')?.textContent).toBe("Name");
    input.value = "  widget  ";
    (q("#item-form") as HTMLFormElement).requestSubmit();
    await app.lastSubmission();

    const post = fetch.mock.calls.find(([, init]) => init?.method === "POST");
    expect(post?.[0]).toBe(`${API}/items`);
    expect(JSON.parse(String(post?.[1]?.body))).toEqual({ name: "widget" });
    expect(new Headers(post?.[1]?.headers).get("Content-Type")).toBe("application/json");
    expect(qa("#items .item-name").map((n) => n.textContent)).toEqual(["widget"]);
    expect(input.value).toBe("");
    expect(q("#form-message")?.textContent).toBe("Added “widget”.");
    expect(fetch.mock.calls.filter(([url, init]) => url === `${API}/items` && !init?.method)).toHaveLength(2);
  });

  it("does not post an empty name", async () => {
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ok", checks: {} }),
      "GET /items": () => json([]),
    });
    const app = mount(root, { apiUrl: API, fetch });
    await app.ready;
    (q("#item-form") as HTMLFormElement).requestSubmit();
    await app.lastSubmission();

    expect(fetch.mock.calls.some(([, init]) => init?.method === "POST")).toBe(false);
    expect(q("#item-name")?.getAttribute("aria-invalid")).toBe("true");
    expect(q("#form-message")?.textContent).toBe("Type a name first.");
  });

  it("shows the api's error when the post is rejected, and keeps the input", async () => {
    const fetch = fakeApi({
      "GET /readyz": () => json({ status: "ok", checks: {} }),
      "GET /items": () => json([]),
      "POST /items": () => json({ detail: "name already exists" }, 409),
    });
    const app = mount(root, { apiUrl: API, fetch });
    await app.ready;
    const input = q("#item-name") as HTMLInputElement;
    input.value = "dup";
    (q("#item-form") as HTMLFormElement).requestSubmit();
    await app.lastSubmission();

    expect(q("#form-message")?.textContent).toBe("Could not add the item: POST /items answered 409: name already exists");
    expect(input.value).toBe("dup");
    expect((q("#item-form button") as HTMLButtonElement).disabled).toBe(false);
  });
});

describe("without an api", () => {
  it.each([undefined, "", "  "])("makes no request and says the api is not part of the project (%j)", async (apiUrl) => {
    const fetch = vi.fn<FetchLike>();
    const spy = vi.spyOn(globalThis, "fetch");
    await mount(root, { apiUrl, fetch }).ready;

    expect(fetch).not.toHaveBeenCalled();
    expect(spy).not.toHaveBeenCalled();
    expect(q(".no-api")?.textContent).toMatch(/api is not part of this project/);
    expect(q("form")).toBeNull();
    expect(q("h1")?.textContent).toBe("Test App");
  });
});
