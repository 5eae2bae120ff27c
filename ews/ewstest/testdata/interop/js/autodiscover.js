// Asks the fake's SOAP Autodiscover with ews-javascript-api (a port of the
// EWS Managed API's AutodiscoverService, whose response reader needs
// i:type on every UserSetting) and prints what it read as one JSON object.
//
//   node autodiscover.js AUTODISCOVER-URL USER PASSWORD ADDRESS...
//
// GetUsersSettings sends all addresses in one GetUserSettings request.
"use strict";

const ews = require("ews-javascript-api");

const [url, user, pass, ...addresses] = process.argv.slice(2);
const out = { errors: [], users: {} };
const realLog = console.log;
console.log = (...args) => console.error(...args);

async function main() {
  const ad = new ews.AutodiscoverService(new ews.Uri(url), ews.ExchangeVersion.Exchange2013);
  ad.Credentials = new ews.WebCredentials(user, pass);
  const names = [ews.UserSettingName.ExternalEwsUrl, ews.UserSettingName.InternalEwsUrl,
    ews.UserSettingName.GroupingInformation, ews.UserSettingName.AutoDiscoverSMTPAddress];
  try {
    const coll = await ad.GetUsersSettings(addresses, ...names);
    for (let i = 0; i < coll.Count; i++) {
      const r = coll.__thisIndexer(i);
      const u = { errorCode: ews.AutodiscoverErrorCode[r.ErrorCode] };
      for (const n of names) {
        const v = r.Settings.containsKey(n) ? r.Settings.get(n) : undefined;
        if (v !== undefined) u[ews.UserSettingName[n]] = v;
      }
      out.users[addresses[i]] = u;
    }
  } catch (err) {
    out.errors.push("GetUsersSettings: " + (err && (err.message || err.Message) || String(err)));
  }
}

main().finally(() => realLog(JSON.stringify(out)));
