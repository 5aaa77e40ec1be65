// Visit summaries: "Copy" buttons for a share link and its code, and "Print" buttons.
// A copy button names the input it copies (data-copy) and the word it shows once done (data-copied).
// Without JavaScript the link stays selectable in its field and the browser's own print works.
(function () {
  "use strict";

  function copied(button) {
    var label = button.textContent;
    button.textContent = button.getAttribute("data-copied") || label;
    window.setTimeout(function () {
      button.textContent = label;
    }, 2000);
  }

  function copyFrom(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) {
      return;
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(
        function () {
          copied(button);
        },
        function () {
          input.select();
        }
      );
      return;
    }
    input.select();
    try {
      if (document.execCommand("copy")) {
        copied(button);
      }
    } catch (error) {
      // The text stays selected: the person can copy it by hand.
    }
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      copyFrom(button);
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
