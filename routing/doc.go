// Package routing decides where a hotline call goes: which hotline number
// was dialled, which agents may take it, and in what order callers waiting
// for an agent are served. It knows nothing of SIP: call control asks it for
// decisions with plain call attributes and tells it what happened.
//
// It is split by concern, each sub-package owning its configuration,
// errors and tests:
//
//   - config: the routing section of the configuration (hotlines, agents,
//     queues, rules, keypad menu, callbacks), defaults and validation;
//   - schedule: opening hours, holidays and time bands;
//   - directory: the customer directory (file, CRM lookup, remembered
//     answers) and number normalisation;
//   - rules: the router, which turns call attributes and the clock into
//     a Decision;
//   - callbacks: the callback store, the follow-up policy and the calling
//     window;
//   - acd: the automatic call distributor (queues, agents, offers).
//
// Imports only go down that list: acd uses callbacks, rules, directory,
// schedule and config; nothing imports acd.
package routing
