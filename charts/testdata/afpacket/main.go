// Command afpacket opens and closes one AF_PACKET socket, the one privileged
// thing zktap does, and reports the outcome on stdout. capability_linux_test.go
// runs it under the image's user and capability sets.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	// ETH_P_ALL (0x0003) in network byte order, as zktap's capture uses.
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300)
	if err != nil {
		fmt.Printf("socket: %v\n", err)
		os.Exit(1)
	}
	syscall.Close(fd)
	fmt.Println("ok")
}
