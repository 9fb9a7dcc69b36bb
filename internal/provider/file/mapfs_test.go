package file

import "testing/fstest"

func mapFS(name, data string) fstest.MapFS {
	return fstest.MapFS{name: &fstest.MapFile{Data: []byte(data)}}
}
