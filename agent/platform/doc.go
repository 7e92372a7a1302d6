// Package platform links the emulated module to an IoT platform over MQTT,
// and is a small platform itself.
//
// The module side is [Device]: it signs in as the device (Alink "one
// device, one secret" HMAC, spec cloud-ota-protocols.md §1.1, or Huawei
// IoTDA, §2.1), reports component versions on the inform topic and task
// progress on the progress topic, takes upgrade jobs pushed on the upgrade
// topic or pulled with firmware/get, downloads and verifies their packages
// into a cache with the Range-resuming downloader of package transport,
// and only then offers each job as an upgrade plan: the same
// plan.Plan a plans directory gives, so the MCU sees the same AT events
// either way. The decisions of spec §6 (how a job becomes a plan, the
// progress scale) live in job.go and device_task.go. Reports wait in an
// outbox kept in the state file until the broker acknowledged them, so
// nothing is lost while the link is down or the module restarts.
//
// The platform side is [Platform]: an embedded MQTT broker (or an
// external one), an HTTP package server with Range, and the plans of a
// plans directory turned into jobs for the devices that report versions,
// under batch rules (scope, phased rollout, push rate, retries, timeouts,
// overwrite, app confirmation). Its state survives restarts; [Status]
// says where every device stands.
//
// This package does not import the module emulator or the MCU side: the
// command wires them, converting the module's observer calls into
// [TaskEvent] values.
package platform
