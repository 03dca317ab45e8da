// "Show password" for the one password field (signup_server/templates/_forms.html). Without
// script the button stays hidden and the field is a plain password field.
document.querySelectorAll("[data-show-password]").forEach((button) => {
  const input = document.getElementById(button.dataset.showPassword);
  if (!input || button.dataset.ready) return;
  button.dataset.ready = "1";
  const showLabel = button.textContent; // both labels come translated from the page
  const hideLabel = button.dataset.hideLabel || "Hide password";
  button.hidden = false;
  button.addEventListener("click", () => {
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    button.setAttribute("aria-pressed", show ? "true" : "false");
    button.textContent = show ? hideLabel : showLabel;
  });
  input.form?.addEventListener("submit", () => {
    input.type = "password"; // never leave it readable in the page history
  });
});
