// The API key form, shown when the server answers 401. The key is kept in
// sessionStorage only: it is gone when the tab closes.

import { api, auth, describeError } from "../api.js";
import { field, h, replace } from "../dom.js";

export function loginView(main, onLoggedIn) {
  const input = h("input", { type: "password", name: "api_key", required: true, autocomplete: "current-password", spellcheck: "false" });
  const message = h("p", { class: "error-box", role: "alert", hidden: true });
  const submit = h("button", { type: "submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "login panel",
      "aria-labelledby": "login-title",
      onsubmit: async (event) => {
        event.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        submit.disabled = true;
        auth.key = key;
        try {
          await api("jobs/stats");
          onLoggedIn();
        } catch (error) {
          auth.key = null;
          message.textContent = error.status === 401 ? "This API key was not accepted. Check it and try again." : describeError(error);
          message.hidden = false;
          input.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", { id: "login-title" }, "Log in"),
    h("p", {}, "This conveyor server needs an API key. It stays in this browser tab only."),
    message,
    field("API key", input),
    submit,
  );
  replace(main, form);
  input.focus();
  return () => {};
}
