package platform_test

import (
	"fmt"
	"time"

	"github.com/atota/atota/agent/platform"
)

func ExampleAlinkCredentials() {
	c := platform.AlinkCredentials("a1FhgaRDrde", "device1", "secret", platform.SDKTimestamp, false)
	fmt.Println(c.Username)
	fmt.Println(c.Password)
	_, err := platform.VerifyAlink(c, "secret")
	fmt.Println(err)
	// Output:
	// device1&a1FhgaRDrde
	// 518a88dabe982ba9652ef659cee6809fee122fd8de77705360645fa8b3502c02
	// <nil>
}

func ExampleParseAlinkJob() {
	push := `{"code":"1000","id":1,"message":"success","data":{"version":"2_0_0","module":"STM32",
		"size":65536,"url":"http://127.0.0.1:8765/p/808a21283d8417e5/stm32-2_0_0.bin",
		"signMethod":"Md5","sign":"ae1c09f69f45efab425f4ac386c68798","extData":{"min_battery":30}}}`
	j, err := platform.ParseAlinkJob([]byte(push), 1<<30)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := j.ToPlan("p1demo", "dev1", "/var/cache/atota/job", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	c := p.Components[0]
	fmt.Println(p.Name, p.Product, p.Whitelist, p.MinBattery())
	fmt.Println(c.Type, c.ID, c.Package, c.TargetVersion, c.File)

	_, err = platform.ParseAlinkJob([]byte(`{"code":"1000","id":2,"data":{"version":"2_0_0","size":10,"url":"ftp://h/x","signMethod":"Md5","sign":"ae1c09f69f45efab425f4ac386c68798"}}`), 1<<30)
	fmt.Println(err)
	// Output:
	// STM32@2_0_0 p1demo [dev1] 30
	// mcu STM32 full 2_0_0 0-stm32-2_0_0.bin
	// platform: job default@2_0_0: url: "ftp://h/x": only http:// and https:// URLs can be downloaded
}
