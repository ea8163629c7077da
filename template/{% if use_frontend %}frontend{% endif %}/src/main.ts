import "./style.css";
import { mount } from "./app";

const root = document.querySelector<HTMLElement>("#app");
if (root) {
  // VITE_API_URL is inlined by `vite build` (a Docker build argument), read from the environment by `vite dev`.
  mount(root, { apiUrl: import.meta.env.VITE_API_URL });
}
