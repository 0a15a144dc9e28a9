// Settings: offer only the access groups of the account chosen in the form (and shared groups once an account
// is chosen). Non-operators have no account field: their list is already scoped by the server.
document.addEventListener("DOMContentLoaded", function () {
  var account = document.querySelector("#settings-form select[name=account]");
  var boxes = document.querySelectorAll("#field-access_groups input[data-account]");
  var hint = document.getElementById("access-groups-hint");
  if (!account || !boxes.length) return;
  function apply() {
    var chosen = account.value;
    var shown = 0;
    boxes.forEach(function (box) {
      var fits = chosen !== "" && (box.dataset.account === chosen || box.dataset.shared === "1");
      var row = box.closest("label").parentElement;
      row.hidden = !fits;
      if (!fits) box.checked = false;
      if (fits) shown += 1;
    });
    if (hint) {
      hint.hidden = shown > 0;
      hint.textContent = chosen === "" ? "Choose the account first." : "No access groups for this account yet.";
    }
  }
  account.addEventListener("change", apply);
  apply();
});
