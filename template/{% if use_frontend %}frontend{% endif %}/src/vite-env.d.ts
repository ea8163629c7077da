/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the api (e.g. http://api.localhost:8080); empty when the project has no api. */
  readonly VITE_API_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
