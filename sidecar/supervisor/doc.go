// Package supervisor is the TLS sidecar program behind cmd/decco-sidecar.
// Given a sidecar.Config (the injector's arguments, parsed back), it
// renders stunnel's configuration, runs stunnel and restarts it should it
// die, reloads it when the mounted certificate changes, and serves
// readiness and the app-health checks on the health port.
package supervisor
