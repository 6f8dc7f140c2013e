#!/usr/bin/env python3
"""Import cycles between source files of each crate: fails when one file
uses another (`crate::...`, `super::...` paths and `use` groups) that uses it
back, directly or through others. A module and its own submodules (a
`mod.rs` and the files below it) do not count as a cycle.

Usage: python3 .ci/import_cycles.py [REPO_ROOT]
"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
crates=['formats','engine','trainer','tools','benches','tests']
def modpath(crate_src, f):
    rel=os.path.relpath(f,crate_src)[:-3].split('/')
    if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
    return tuple(rel)
total=0
for c in crates:
    src=os.path.join(root,c,'src')
    if not os.path.isdir(src): continue
    files={}
    for d,_,fs in os.walk(src):
        for f in fs:
            if f.endswith('.rs'):
                p=os.path.join(d,f); files[modpath(src,p)]=p
    mods=set(files)
    edges={m:set() for m in mods}
    for m,p in files.items():
        txt=open(p).read()
        txt=re.sub(r'//[^\n]*','',txt)
        # Paths anywhere in the code: `crate::a::b::Item`, `super::x::Item`.
        for mt in re.finditer(r'\b(crate|super|self)((?:::\w+)+)',txt):
            head,rest=mt.group(1),mt.group(2).split('::')[1:]
            if head=='crate': base=()
            elif head=='self': base=m
            else:
                # `super` of a file's module is its parent module, and so on up.
                base=m[:-1]
                while rest and rest[0]=='super': base=base[:-1]; rest=rest[1:]
            full=base+tuple(rest)
            # The file is the longest prefix that names a module.
            for i in range(len(full),-1,-1):
                if full[:i] in mods: tgt=full[:i]; break
            if tgt!=m and not (tgt==m[:len(tgt)] or m==tgt[:len(m)]):
                edges[m].add(tgt)
        # use groups like use crate::{a::X, b::Y}
        for mt in re.finditer(r'use\s+crate::\{([^;]*)\};',txt,re.S):
            for part in re.split(r'[,{}\s]+',mt.group(1)):
                if not part: continue
                full=tuple(part.split('::'))
                for i in range(len(full),-1,-1):
                    if full[:i] in mods: tgt=full[:i]; break
                if tgt and tgt!=m and not (tgt==m[:len(tgt)] or m==tgt[:len(m)]):
                    edges[m].add(tgt)
    # Strongly connected components (Tarjan): each one with more than one file is a cycle.
    idx={};low={};st=[];on=set();out=[];n=[0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v]=low[v]=n[0];n[0]+=1;st.append(v);on.add(v)
        for w in edges[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: out.append(comp)
    for v in mods:
        if v not in idx: sc(v)
    for comp in out:
        total+=1
        print(c + ':', ' <-> '.join('/'.join(x) or 'lib' for x in comp))
print('import cycles between files:', total)
sys.exit(1 if total else 0)
