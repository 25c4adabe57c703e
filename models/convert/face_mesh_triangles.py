#!/usr/bin/env python3
"""Recover the triangles of mediapipe's 468-point face mesh from its edge list.

mediapipe ships the mesh topology only as edges (FACEMESH_TESSELATION in
mediapipe/python/solutions/face_mesh_connections.py, Apache-2.0). Every triangle of the mesh is a
3-clique of that graph; a few 3-cliques are not faces ("separating" triangles whose three edges
each already border two faces). The mesh is a disc with three holes (mouth opening, two eye
openings), so Euler's formula fixes the face count: F = E - V + (1 - holes).

Usage: face_mesh_triangles.py MEDIAPIPE_WHEEL_OR_FACE_MESH_CONNECTIONS_PY OUT.txt
Writes one triangle per line: three landmark indices.
"""
import collections
import re
import sys
import zipfile


def read_source(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read("mediapipe/python/solutions/face_mesh_connections.py").decode()
    return open(path).read()


def main():
    src = read_source(sys.argv[1])
    body = re.search(r"FACEMESH_TESSELATION\s*=\s*frozenset\(\[(.*?)\]\)", src, re.S).group(1)
    edges = {tuple(sorted(map(int, p))) for p in re.findall(r"\((\d+),\s*(\d+)\)", body)}
    adj = collections.defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    count = collections.Counter()
    for t in cliques:
        for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
            count[e] += 1
    faces = sorted(t for t in cliques
                   if not all(count[e] == 3 for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2]))))
    holes = 3
    expected = len(edges) - len(adj) + 1 - holes
    assert len(faces) == expected, (len(faces), expected)
    count = collections.Counter()
    for t in faces:
        for e in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2])):
            count[e] += 1
    assert max(count.values()) == 2
    boundary = sum(1 for v in count.values() if v == 1)
    with open(sys.argv[2], "w") as f:
        f.write(f"# mediapipe face mesh: {len(faces)} triangles over 468 landmarks, {boundary} boundary edges\n")
        f.write("# derived from mediapipe 0.10.14 FACEMESH_TESSELATION (Apache-2.0) by models/convert/face_mesh_triangles.py\n")
        for t in faces:
            f.write(f"{t[0]} {t[1]} {t[2]}\n")
    print(f"{len(faces)} triangles, {boundary} boundary edges")


if __name__ == "__main__":
    main()
