import numpy as np, json
f32=np.float32
rng=np.random.default_rng(123)
x=np.concatenate([
  (rng.standard_normal(32)*2.5).astype(f32),
  np.array([0.5*i-8 for i in range(32)],dtype=f32),   # ties / exact grid values
]).astype(f32)
x[40]=f32(9.75)  # largest positive in block 2
def fp16(v): return np.array([v],dtype=f32).astype(np.float16).view(np.uint16)[0]
def q8_0(b):
    out=bytearray()
    amax=f32(np.max(np.abs(b)))
    d=f32(amax/f32(127)); idv=f32(f32(1)/d) if d!=0 else f32(0)
    out+=int(fp16(d)).to_bytes(2,'little')
    for v in b:
        p=f32(v*idv); t=np.trunc(p); r=t+1 if p-t>=0.5 else (t-1 if p-t<=-0.5 else t)
        out+=int(r).to_bytes(1,'little',signed=True)
    return out
def q4_0(b):
    amax=f32(0); mx=f32(0)
    for v in b:
        if abs(v)>amax: amax=f32(abs(v)); mx=v
    d=f32(mx/f32(-8)); idv=f32(f32(1)/d) if d!=0 else f32(0)
    q=[min(15,int(np.trunc(f32(f32(v*idv)+f32(8.5))))) for v in b]
    out=bytearray(int(fp16(d)).to_bytes(2,'little'))
    for j in range(16): out.append(q[j]|(q[j+16]<<4))
    return out
def q4_1(b):
    mn=f32(np.min(b)); mx=f32(np.max(b))
    d=f32(f32(mx-mn)/f32(15)); idv=f32(f32(1)/d) if d!=0 else f32(0)
    q=[min(15,int(np.trunc(f32(f32(f32(v-mn)*idv)+f32(0.5))))) for v in b]
    out=bytearray(int(fp16(d)).to_bytes(2,'little')+int(fp16(mn)).to_bytes(2,'little'))
    for j in range(16): out.append(q[j]|(q[j+16]<<4))
    return out
KV=[0,1,2,3,4,6,8,12,0,-1,-2,-3,-4,-6,-8,-12]
def mxfp4(b):
    amax=f32(np.max(np.abs(b)))
    e=int(np.floor(np.log2(amax)))-2+127 if amax>0 else 0
    d=f32(2.0**(e-128))
    out=bytearray([e])
    def best(v):
        bi=0; be=abs(f32(f32(KV[0])*d)-v)
        for i in range(1,16):
            err=abs(f32(f32(KV[i])*d)-v)
            if err<be: bi=i; be=err
        return bi
    q=[best(v) for v in b]
    for j in range(16): out.append(q[j]|(q[j+16]<<4))
    return out
def dec(t,by,n):
    res=[]
    bs={'q8_0':34,'q4_0':18,'q4_1':20,'mxfp4':17}[t]
    for k in range(n//32):
        blk=by[k*bs:(k+1)*bs]
        if t=='q8_0':
            d=np.frombuffer(bytes(blk[0:2]),dtype=np.float16)[0].astype(f32)
            res+= [f32(f32(q)*d) for q in np.frombuffer(bytes(blk[2:]),dtype=np.int8)]
        elif t=='q4_0':
            d=np.frombuffer(bytes(blk[0:2]),dtype=np.float16)[0].astype(f32)
            qs=blk[2:]; lo=[(qs[j]&15) for j in range(16)]; hi=[qs[j]>>4 for j in range(16)]
            res+= [f32(f32(q-8)*d) for q in lo+hi]
        elif t=='q4_1':
            d=np.frombuffer(bytes(blk[0:2]),dtype=np.float16)[0].astype(f32)
            m=np.frombuffer(bytes(blk[2:4]),dtype=np.float16)[0].astype(f32)
            qs=blk[4:]; lo=[(qs[j]&15) for j in range(16)]; hi=[qs[j]>>4 for j in range(16)]
            res+= [f32(f32(f32(q)*d)+m) for q in lo+hi]
        else:
            e=blk[0]; d=f32(2.0**(e-128)); qs=blk[1:]
            lo=[(qs[j]&15) for j in range(16)]; hi=[qs[j]>>4 for j in range(16)]
            res+= [f32(f32(KV[q])*d) for q in lo+hi]
    return np.array(res,dtype=f32)
out={'input':x.view(np.uint32).tolist()}
for t,fn in [('q8_0',q8_0),('q4_0',q4_0),('q4_1',q4_1),('mxfp4',mxfp4)]:
    by=fn(x[:32])+fn(x[32:])
    out[t]={'bytes':bytes(by).hex(),'decoded':dec(t,by,64).view(np.uint32).tolist()}
print(json.dumps(out))
