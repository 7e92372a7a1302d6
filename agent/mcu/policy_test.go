package mcu

import "testing"

func TestSignalDBm(t *testing.T) {
	tests := []struct {
		rssi   int
		want   int
		wantOK bool
	}{
		{rssi: 0, want: -113, wantOK: true},
		{rssi: 1, want: -111, wantOK: true},
		{rssi: 2, want: -109, wantOK: true},
		{rssi: 25, want: -63, wantOK: true},
		{rssi: 31, want: -51, wantOK: true},
		{rssi: 32},
		{rssi: 99},
		{rssi: -1},
	}
	for _, tt := range tests {
		got, ok := SignalDBm(tt.rssi)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("SignalDBm(%d) = %d, %v; want %d, %v", tt.rssi, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestPolicyErrorMessage(t *testing.T) {
	tests := []struct {
		err  PolicyError
		want string
	}{
		{PolicyError{Component: "STM32", What: "battery", Have: 20, Need: 30, Unit: "%"},
			"mcu: update of STM32 refused: battery 20% is below the plan's minimum 30% (short by 10%); charge the battery and try again"},
		{PolicyError{Component: "STM32", What: "signal", Have: -109, Need: -100, Unit: " dBm"},
			"mcu: update of STM32 refused: signal -109 dBm is below the plan's minimum -100 dBm (short by 9 dBm); improve the antenna or coverage and try again"},
		{PolicyError{Component: "STM32", What: "signal", Need: -113, Unit: " dBm", Detail: "signal unknown (AT+CSQ rssi 99)"},
			"mcu: update of STM32 refused: signal unknown (AT+CSQ rssi 99); improve the antenna or coverage and try again"},
		{PolicyError{Component: "A", What: "space", Have: 10, Need: 20, Unit: " bytes"},
			"mcu: update of A refused: space 10 bytes is below the plan's minimum 20 bytes (short by 10 bytes); use a target with a larger slot or a smaller package"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
		}
	}
}
