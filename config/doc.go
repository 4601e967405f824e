// Package config turns zktap's command line, environment and optional YAML
// file into plain structs, one per consumer.
//
// # Sources and precedence
//
// [Parse] is a pure function of its arguments: the first argument names the
// subcommand (dump, top, serve, version, help) and the rest are flags. Every
// flag also reads the environment variable ZKTAP_ plus its name in upper
// snake case (--web.listen-address is ZKTAP_WEB_LISTEN_ADDRESS), and the
// YAML file named by --config (or ZKTAP_CONFIG), whose keys are the flag
// names, either flat (`web.listen-address: ":9771"`) or nested by dots
// (`web: {listen-address: ":9771"}`); lists may be YAML sequences. A flag
// beats the environment, which beats the file, which beats the default.
//
// The file is strict: a key that is no flag at all is an error, so a typo
// does not silently leave a default in place. A key that is a flag of
// another subcommand is ignored, so one file can serve every subcommand.
//
// # Errors
//
// Every problem is reported at once, one line each, naming the flag and,
// when the value did not come from the command line, where it came from.
// All errors from Parse match [ErrUsage] with errors.Is, so main can exit
// with status 2.
package config
