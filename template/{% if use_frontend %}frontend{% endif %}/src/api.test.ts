import { describe, expect, it } from "vitest";
import { apiBase, parseChecks } from "./api";

describe("apiBase", () => {
  it.each([
    [undefined, ""],
    ["", ""],
    ["   ", ""],
    ["http://api.localhost:8080", "http://api.localhost:8080"],
    ["http://api.localhost:8080//", "http://api.localhost:8080"],
    ["/api/", "/api"],
  ])("%j → %j", (raw, expected) => {
    expect(apiBase(raw)).toBe(expected);
  });
});

describe("parseChecks", () => {
  it("accepts a map of strings, booleans and objects", () => {
    expect(parseChecks({ db: "ok", cache: false, queue: { status: "down", error: "timeout" }, s3: true })).toEqual([
      { name: "db", status: "ok", detail: "ok" },
      { name: "cache", status: "failing", detail: "failing" },
      { name: "queue", status: "failing", detail: "down: timeout" },
      { name: "s3", status: "ok", detail: "ok" },
    ]);
  });

  it("reads the api's own words: ok, disabled, failed: …", () => {
    expect(parseChecks({ database: "ok", cache: "disabled", other: "failed: ConnectionError" })).toEqual([
      { name: "database", status: "ok", detail: "ok" },
      { name: "cache", status: "disabled", detail: "disabled" },
      { name: "other", status: "failing", detail: "failed: ConnectionError" },
    ]);
  });

  it("accepts a list of named checks", () => {
    expect(parseChecks([{ name: "db", status: "ok" }, { status: "fail" }])).toEqual([
      { name: "db", status: "ok", detail: "ok" },
      { name: "check 2", status: "failing", detail: "fail" },
    ]);
  });

  it("treats a missing or odd value as no checks", () => {
    expect(parseChecks(undefined)).toEqual([]);
    expect(parseChecks("ok")).toEqual([]);
  });
});
