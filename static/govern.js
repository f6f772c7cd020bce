// govern admin UI: the script of every page, served from this repository (the CSP allows no inline
// script; a page that needs more has its own file beside this one).
document.documentElement.classList.add("js");

// The phone menu: the button shows and hides the navigation it controls.
for (const button of document.querySelectorAll(".menu-button")) {
  const nav = document.getElementById(button.getAttribute("aria-controls"));
  button.addEventListener("click", () => {
    button.setAttribute("aria-expanded", String(nav.classList.toggle("shown")));
  });
}

// A table wider than a phone scrolls inside itself; the keyboard must be able to scroll it too.
for (const table of document.querySelectorAll("main table")) {
  if (table.scrollWidth > table.clientWidth && !table.hasAttribute("tabindex")) {
    table.setAttribute("tabindex", "0");
  }
}
