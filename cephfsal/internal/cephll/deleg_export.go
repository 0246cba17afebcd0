//go:build !noceph

package cephll

// #include <stdint.h>
import "C"

//export nfsgwDelegRecall
func nfsgwDelegRecall(id C.uintptr_t) {
	if f, ok := recalls.Load(uint64(id)); ok {
		go f.(func())()
	}
}
