#!/usr/bin/env node
// @ts-check
import { pathToFileURL } from "node:url";

// Writes the nginx `add_header Content-Security-Policy …` line for the built frontend.
// Run in the Docker build stage with the same VITE_API_URL that Vite inlines, so the policy's
// connect-src names exactly the api origin the bundle calls (nothing wider, like `connect-src *`).
//   node scripts/csp.mjs > csp.conf        (reads VITE_API_URL from the environment)

/**
 * The origin ("https://api.example.org") of an absolute http(s) VITE_API_URL; "" when it is empty
 * or relative (same origin as the page, covered by 'self'). Throws on anything else, so a typo
 * fails the image build instead of shipping a policy that blocks the api.
 * @param {string | undefined} raw
 * @returns {string}
 */
export function apiOrigin(raw) {
  const value = (raw ?? "").trim();
  if (value === "" || value.startsWith("/")) return "";
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`VITE_API_URL is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`VITE_API_URL must be http(s), got ${JSON.stringify(url.protocol)}`);
  }
  // The origin lands inside a quoted nginx string: allow only host names, IPv4/IPv6 and a port.
  if (!/^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d+)?$/.test(url.origin)) {
    throw new Error(`VITE_API_URL has an unusual host: ${JSON.stringify(url.origin)}`);
  }
  return url.origin;
}

/**
 * @param {string | undefined} rawApiUrl
 * @returns {string} the Content-Security-Policy value
 */
export function contentSecurityPolicy(rawApiUrl) {
  const origin = apiOrigin(rawApiUrl);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${origin ? ` ${origin}` : ""}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * @param {string | undefined} rawApiUrl
 * @returns {string} an nginx config fragment (included by nginx.conf in every location)
 */
export function nginxSnippet(rawApiUrl) {
  return (
    "# Generated at image build time by scripts/csp.mjs from VITE_API_URL; do not edit.\n" +
    `add_header Content-Security-Policy "${contentSecurityPolicy(rawApiUrl)}" always;\n`
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(nginxSnippet(process.env.VITE_API_URL));
}
