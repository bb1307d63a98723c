// Times as the reader chose to see them: in the browser's own time zone or in UTC, always with the zone
// named, so "12:04" never leaves anyone guessing. The choice is kept in localStorage.
const KEY = "flowsite.timezone";
const CHOICES = ["local", "utc"];

export function zoneChoice() {
  const stored = localStorage.getItem(KEY);
  return CHOICES.includes(stored) ? stored : "local";
}

// "Nov 30, 2026, 13:04:05 UTC" or "Nov 30, 2026, 2:04:05 PM GMT+1": the zone's short name comes from Intl.
export function formatTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZoneName: "short", ...(zoneChoice() === "utc" ? { timeZone: "UTC" } : {}),
  });
}

// The header's switch: changing it redraws the page with every time in the new zone.
export function mountZoneSwitch(select) {
  const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
  const labels = { local: `local time (${localZone})`, utc: "UTC" };
  select.replaceChildren(...CHOICES.map((choice) => {
    const option = document.createElement("option");
    option.value = choice;
    option.textContent = labels[choice];
    option.selected = choice === zoneChoice();
    return option;
  }));
  select.addEventListener("change", () => {
    localStorage.setItem(KEY, select.value);
    location.reload();
  });
}
