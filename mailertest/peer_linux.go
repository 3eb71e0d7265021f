package mailertest

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpEstablished is TCP_ESTABLISHED of linux/tcp_states.h.
const tcpEstablished = 1

// peerClosed reports whether the client has closed or reset c, as the
// server's TCP end knows it, whether or not the server has read the end.
func peerClosed(c net.Conn) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		// Anything but ESTABLISHED: CLOSE_WAIT after the client's FIN,
		// CLOSE after its RST.
		closed = err == nil && info.State != tcpEstablished
	})
	return closed
}
