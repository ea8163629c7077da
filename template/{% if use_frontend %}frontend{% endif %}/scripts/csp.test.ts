import { describe, expect, it } from "vitest";
import { apiOrigin, contentSecurityPolicy, nginxSnippet } from "./csp.mjs";

describe("CSP built from VITE_API_URL", () => {
  it("allows exactly the api origin in connect-src", () => {
    expect(apiOrigin("https://api.example.org/v1/")).toBe("https://api.example.org");
    expect(contentSecurityPolicy("http://api.localhost:8080")).toContain("connect-src 'self' http://api.localhost:8080;");
  });

  it("keeps connect-src to 'self' without an api or with a relative one", () => {
    for (const raw of [undefined, "", "/api"]) {
      expect(contentSecurityPolicy(raw)).toContain("connect-src 'self';");
    }
  });

  it("rejects values that are not http(s) origins, or could break out of the nginx string", () => {
    expect(() => apiOrigin("api.example.org")).toThrow(/not a URL/);
    expect(() => apiOrigin("javascript:alert(1)")).toThrow(/http\(s\)/);
    expect(() => apiOrigin('http://a";b')).toThrow(/unusual host/);
  });

  it("renders one nginx add_header line", () => {
    const lines = nginxSnippet("https://api.example.org").trim().split("\n");
    expect(lines[1]).toMatch(/^add_header Content-Security-Policy "[^"]+" always;$/);
    expect(lines[1]).not.toContain("*");
  });
});
