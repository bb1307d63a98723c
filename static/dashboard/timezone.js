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

// The instant a day ("2026-11-30", plus some days) begins in the chosen zone, as ISO 8601 for the API:
// a date range picked while UTC is chosen names UTC days, the reader's own days otherwise.
export function dayStart(day, plusDays = 0) {
  if (zoneChoice() === "utc") {
    const date = new Date(`${day}T00:00:00Z`);
    date.setUTCDate(date.getUTCDate() + plusDays);
    return date.toISOString();
  }
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + plusDays);
  return date.toISOString();
}

// What the chosen zone is called beside a date input: "UTC", or the reader's own zone.
export function zoneLabel() {
  return zoneChoice() === "utc" ? "UTC" : (Intl.DateTimeFormat().resolvedOptions().timeZone || "local time");
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
