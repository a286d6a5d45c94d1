// Confirmation with the page's own <dialog> (not window.confirm), so it is styled,
// reachable by keyboard, and a browser test can drive it.

/** Ask the question; resolves true when the person confirms. */
export function confirmAction({ title, text, confirmLabel = "Confirm", danger = false }) {
  const dialog = document.getElementById("confirm");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  const yes = dialog.querySelector("#confirm-yes");
  yes.textContent = confirmLabel;
  yes.classList.toggle("danger", danger);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    dialog.querySelector("#confirm-no").focus();
  });
}
