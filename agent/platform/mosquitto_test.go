package platform

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atota/atota/internal/mosquittotest"
)

// TestMosquittoBrokerRestartMidJob runs the platform and a device link
// through mosquitto and restarts the broker in the middle of the job:
// what the device reports while the broker is down (the MCU's progress,
// its new version) reaches the platform after the restart.
func TestMosquittoBrokerRestartMidJob(t *testing.T) {
	mq := mosquittotest.Start(t, "")
	plans, _ := writePlans(t, 300_000, nil)
	p := startPlatform(t, plans, func(c *Config) { c.Broker = mq.URL() })
	d := startDevice(t, mq.URL(), "dev1", t.TempDir(), nil)
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	var name string
	eventually(t, "the job's plan", func() bool {
		ps, _ := d.Load()
		if len(ps) == 1 {
			name = ps[0].Name
		}
		return len(ps) == 1
	})
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventStarted, Total: 300_000})
	eventually(t, "the MCU's first step on the platform", func() bool {
		tk := task(p, "dev1", "stm32-2.0.0")
		return tk != nil && tk.Step == 51
	})

	if err := p.StopBroker(); !errors.Is(err, ErrExternalBroker) {
		t.Errorf("StopBroker with mosquitto = %v, want ErrExternalBroker", err)
	}
	mq.Stop()
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventPiece, Done: 150_000, Total: 300_000})
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventUpdating, Done: 300_000, Total: 300_000})
	d.VersionsReported(map[string]string{"STM32": "2_0_0"})
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventSucceeded})
	mq.Start()

	eventually(t, "success on the platform after the restart", func() bool {
		tk := task(p, "dev1", "stm32-2.0.0")
		return tk != nil && tk.Status == TaskSucceeded
	})
	eventually(t, "the outbox emptied", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.st.Outbox) == 0
	})
}

// TestMosquittoHuaweiAdapter plays IoTDA against a huawei+mqtt:// link
// through mosquitto: version query and report, a software upgrade, its
// progress, and a package that fails verification (result code 7).
func TestMosquittoHuaweiAdapter(t *testing.T) {
	mq := mosquittotest.Start(t, "")
	data := []byte(strings.Repeat("iotda-fw", 10_000))
	srv := newPkgServer(t, data, 0, 0)
	sum := sha256.Sum256(data)
	raw := connectRaw(t, mq.URL(), "", "")
	d := startDevice(t, "huawei+"+mq.URL(), "dev1", t.TempDir(), nil)
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	down := huaweiDown("dev1")
	up := huaweiUp("dev1")
	event := func(kind, paras string) string {
		return `{"object_device_id":"dev1","services":[{"service_id":"$ota","event_type":"` + kind + `","paras":` + paras + `}]}`
	}

	from := raw.count()
	raw.publish(t, down, event("version_query", "{}"))
	raw.waitFor(t, from, up, `"event_type":"version_report"`, `"sw_version":"1_0_0"`)

	from = raw.count()
	raw.publish(t, down, event("software_upgrade", fmt.Sprintf(`{"version":"2_0_0","url":%q,"file_size":%d,"access_token":"tok","expires":86400,"sign":%q}`,
		srv.URL+"/fw.bin", len(data), hex.EncodeToString(sum[:]))))
	raw.waitFor(t, from, up, `"event_type":"upgrade_progress_report"`, `"result_code":0`, `"progress":50`, `"version":"1_0_0"`)
	var name string
	eventually(t, "the plan", func() bool {
		ps, _ := d.Load()
		if len(ps) == 1 {
			name = ps[0].Name
		}
		return len(ps) == 1
	})
	if name != "STM32@2_0_0" {
		t.Errorf("plan %s, want STM32@2_0_0", name)
	}
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventStarted, Total: int64(len(data))})
	d.VersionsReported(map[string]string{"STM32": "2_0_0"})
	d.TaskEvent(TaskEvent{Plan: name, Component: "STM32", Event: EventSucceeded})
	raw.waitFor(t, from, up, `"result_code":0`, `"progress":100`, `"version":"2_0_0"`)

	from = raw.count()
	raw.publish(t, down, event("software_upgrade", fmt.Sprintf(`{"version":"3_0_0","url":%q,"file_size":%d,"sign":%q}`,
		srv.URL+"/fw.bin", len(data), strings.Repeat("0", 64))))
	raw.waitFor(t, from, up, `"result_code":7`, `"version":"2_0_0"`, "sign")
}
